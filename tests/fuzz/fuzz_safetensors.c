/* fuzz_safetensors.c: the safetensors reader and lap.nn.load (header JSON, tensor
 * table, architecture, weights) on an arbitrary file. */
#include "fuzz_common.h"

#include "io/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("net.safetensors", data, size, 0);
    lap_safetensors_free(lap_safetensors_read(path));
    lap_module_release(lap_module_load(path));
    return 0;
}
