/* fuzz_cifar.c: the CIFAR-10 and CIFAR-100 binary readers on an arbitrary test file. */
#include "fuzz_common.h"

#include "../../datasets/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file("test_batch.bin", data, size, 0);
    fuzz_file("test.bin", data, size, 1);
    lap_dataset_release(lap_cifar10_load(fuzz_dir(), 0, 0));
    lap_dataset_release(lap_cifar100_load(fuzz_dir(), 0, size % 2, 0));
    lap_dataset_release(lap_cifar10_load(fuzz_dir(), 0, 2));
    return 0;
}
