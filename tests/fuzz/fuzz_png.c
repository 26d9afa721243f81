/* fuzz_png.c: the PNG reader (lap_png_read, used by lap.plot.diff). */
#include "fuzz_common.h"

#include "../../runtime/plot/canvas.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("image.png", data, size, 0);
    int width, height;
    uint8_t *rgb = NULL;
    if (lap_png_read(path, &width, &height, &rgb) == 0)
        free(rgb);
    return 0;
}
