/* fuzz_idx.c: the IDX (MNIST) reader on arbitrary image and label files, plain or
 * gzip (the reader decides from the content).  The input is the two files
 * (fuzz_split): images, then labels.  A cap of 16 MB of floats keeps legitimate
 * large claims from counting as findings. */
#include "fuzz_common.h"

#include "../../datasets/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t split = fuzz_split(&data, &size);
    const char *images = fuzz_file("images", data, split, 0);
    const char *labels = fuzz_file("labels", data + split, size - split, 1);
    lap_dataset_release(lap_idx_load(images, labels, 0, (int64_t)1 << 24));
    lap_dataset_release(lap_idx_load(images, labels, 3, (int64_t)1 << 24));
    return 0;
}
