/* fuzz_architecture.c: the architecture JSON parser and module builder (the text of
 * __metadata__["lap.architecture"]), with a budget of 2^22 floats of parameters as
 * lap.nn.load gives it the size of the file's tensors. */
#include "fuzz_common.h"

#include "io/checkpoint.h"
#include "nn/module.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    lap_module *m = lap_module_from_architecture_within(text, (double)(1 << 22));
    if (m) {
        char *again = lap_module_architecture(m);
        free(again);
        lap_module_release(m);
    }
    free(text);
    return 0;
}
