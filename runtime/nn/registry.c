/* registry.c: every module type, in one table (see registry.h).  A type's file
 * defines its ops and from_config; a line here makes it known to checkpoints,
 * lap.nn.types() and the help. */
#include "nn/registry.h"

#include <string.h>

#define DECLARE(id)                                                                                                \
    extern const lap_module_ops lap_##id##_ops;                                                                    \
    lap_module *lap_##id##_from_config(const lap_config *config);

DECLARE(linear)
DECLARE(batchnorm)
DECLARE(layernorm)
DECLARE(relu)
DECLARE(tanh)
DECLARE(sigmoid)
DECLARE(sequential)
DECLARE(conv2d)
DECLARE(conv_transpose2d)
DECLARE(avgpool2d)
DECLARE(maxpool2d)
DECLARE(global_avgpool)
DECLARE(flatten)
DECLARE(resnet)

static const lap_module_type types[] = {
    {"Linear", &lap_linear_ops, lap_linear_from_config},
    {"BatchNorm", &lap_batchnorm_ops, lap_batchnorm_from_config},
    {"LayerNorm", &lap_layernorm_ops, lap_layernorm_from_config},
    {"ReLU", &lap_relu_ops, lap_relu_from_config},
    {"Tanh", &lap_tanh_ops, lap_tanh_from_config},
    {"Sigmoid", &lap_sigmoid_ops, lap_sigmoid_from_config},
    {"Sequential", &lap_sequential_ops, lap_sequential_from_config},
    {"Conv2d", &lap_conv2d_ops, lap_conv2d_from_config},
    {"ConvTranspose2d", &lap_conv_transpose2d_ops, lap_conv_transpose2d_from_config},
    {"AvgPool2d", &lap_avgpool2d_ops, lap_avgpool2d_from_config},
    {"MaxPool2d", &lap_maxpool2d_ops, lap_maxpool2d_from_config},
    {"GlobalAvgPool", &lap_global_avgpool_ops, lap_global_avgpool_from_config},
    {"Flatten", &lap_flatten_ops, lap_flatten_from_config},
    {"ResNet", &lap_resnet_ops, lap_resnet_from_config},
};

int lap_module_type_count(void) { return (int)(sizeof types / sizeof types[0]); }

const lap_module_type *lap_module_type_at(int i) { return &types[i]; }

const lap_module_type *lap_module_type_find(const char *name)
{
    for (int i = 0; i < lap_module_type_count(); i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

double lap_field_value(const lap_module *m, const lap_field *field)
{
    const char *at = (const char *)m + field->offset;
    switch (field->kind) {
    case LAP_FIELD_INT64:
        return (double)*(const int64_t *)at;
    case LAP_FIELD_DOUBLE:
        return *(const double *)at;
    case LAP_FIELD_FLOAT:
        return *(const float *)at;
    case LAP_FIELD_INT:
    case LAP_FIELD_BOOL:
    case LAP_FIELD_ENUM:
        break;
    }
    return *(const int *)at;
}
