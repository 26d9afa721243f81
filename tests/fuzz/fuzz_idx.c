/* fuzz_idx.c: the IDX (MNIST) reader on arbitrary image and label files, plain or
 * gzip (the reader decides from the content).  The input is split in two at its
 * first byte (as a fraction): images, then labels.  A cap of 16 MB of floats keeps
 * legitimate large claims from counting as findings. */
#include "fuzz_common.h"

#include "../../datasets/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = (size - 1) * data[0] / 255;
    const char *images = fuzz_file("images", data + 1, split, 0);
    const char *labels = fuzz_file("labels", data + 1 + split, size - 1 - split, 1);
    lap_dataset_release(lap_idx_load(images, labels, 0, (int64_t)1 << 24));
    lap_dataset_release(lap_idx_load(images, labels, 3, (int64_t)1 << 24));
    return 0;
}
