/* module.h: the Module contract (torch/nn's), in C.
 *
 * A module is a struct that embeds `lap_module` as its first member, with a small
 * vtable.  forward(input) computes m->output (a buffer the module owns and reuses
 * across calls; callers must copy it if they keep it past the next forward) and
 * keeps a reference to its input.  backward(grad_output) computes m->grad_input
 * and ACCUMULATES (+=) into its parameter gradients unless the module is frozen;
 * zeroing gradients is explicit (lap_module_zero_grad).  Parameters and their
 * gradients are parallel arrays; buffers (BatchNorm's running statistics) are
 * saved with them but get no gradient.  Containers (Sequential, ResNet) are modules.
 * Besides forward and backward, the ops describe the type to the rest of the
 * program (configuration fields, child slots, its own initialization), so that
 * checkpoints, lap.init and the bindings never name a layer (nn/registry.h).
 *
 * Errors: a leaf reports "Type: message"; a container rewrites a child's message
 * into "Container.child[i].Type: message" (lap_error_wrap), so the user sees where
 * in the network it failed.
 */
#ifndef LAP_MODULE_H
#define LAP_MODULE_H

#include "core/tensor.h"

typedef struct lap_module lap_module;

/* A configuration field of a module type: one value of the module's struct that its
 * constructor took, written to the checkpoint's architecture (io/arch.h) and read
 * back exactly, then given to the type's from_config (nn/registry.h). */
typedef enum {
    LAP_FIELD_INT,      /* int */
    LAP_FIELD_INT64,    /* int64_t */
    LAP_FIELD_DOUBLE,   /* double, saved with 17 significant digits at most (exact) */
    LAP_FIELD_FLOAT,    /* float, 9 at most (exact) */
    LAP_FIELD_BOOL,     /* int, 0 or 1 */
    LAP_FIELD_ENUM      /* an int-sized enum, saved as the name of its value */
} lap_field_kind;

typedef struct lap_field {
    const char *name;           /* the key in the architecture ("eps") */
    lap_field_kind kind;
    size_t offset;              /* of the value in the module's struct (offsetof) */
    double fallback;            /* LAP_FIELD_BOOL: the value when an architecture lacks it */
    const char *const *names;   /* LAP_FIELD_ENUM: names[v] names value v; NULL-terminated */
} lap_field;

/* Where a container's children go in the architecture and in tensor names: the
 * children whose label (lap_module_add_child) is `label` (NULL: unlabelled). */
typedef struct lap_child_slot {
    const char *key;            /* the architecture's key: "children", "blocks", "encoder" */
    const char *label;          /* tensor names: "<label>.<k>" (or "<k>" unlabelled) when many, else "<label>" */
    int many;                   /* an array of children, or at most one */
} lap_child_slot;

typedef struct lap_module_ops {
    const char *type;                                    /* "Linear", "BatchNorm", ... */
    int (*forward)(lap_module *m, lap_tensor *input);    /* sets m->output */
    int (*backward)(lap_module *m, const lap_tensor *grad_output); /* sets m->grad_input */
    void (*destroy)(lap_module *m);                      /* frees type-specific state */
    /* "Linear(2 -> 3)" style description into buf; NULL means just the type */
    void (*describe)(const lap_module *m, char *buf, size_t size);
    /* What the rest of the program knows of the type (nn/registry.h lists the types): */
    const lap_field *fields;                             /* {NULL}-terminated; NULL: none */
    const lap_child_slot *slots;                         /* {NULL}-terminated; NULL: no children */
    /* The type's own initialization, which lap.init applies instead of its rule
     * (BatchNorm: weight 1, bias 0); NULL: the rule applies to a weight of rank >= 2
     * and zeroes (or draws) the bias. */
    int (*reset)(lap_module *m);
    /* The floats its parameters and buffers take, from its field values in the
     * order of `fields` (a loader refuses an architecture larger than its file
     * before allocating anything); NULL: none. */
    double (*config_floats)(const double *values);
} lap_module_ops;

#define LAP_MAX_PARAMS 4
#define LAP_MAX_BUFFERS 4

struct lap_module {
    const lap_module_ops *ops;
    int refcount;
    int training;          /* 1 train mode, 0 eval mode */
    int frozen;            /* parameters neither receive gradients nor get updated */
    lap_tensor *input;     /* retained by forward, for backward */
    lap_tensor *output;    /* owned buffer */
    lap_tensor *grad_input;/* owned buffer */
    int nparams;
    lap_tensor *params[LAP_MAX_PARAMS];
    lap_tensor *grads[LAP_MAX_PARAMS];
    const char *param_names[LAP_MAX_PARAMS];
    /* Buffers: state that is not learned but saved with the parameters (BatchNorm's
     * running statistics); no gradients. */
    int nbuffers;
    lap_tensor *buffers[LAP_MAX_BUFFERS];
    const char *buffer_names[LAP_MAX_BUFFERS];
    int nchildren;
    lap_module **children; /* retained */
    const char **child_names; /* NULL or a label per child ("block", "encoder") */
    /* The shapes of input and output at the last successful forward, which backward
     * checks before using them (a tensor is reshaped in place when the module that
     * owns it runs again).  forward_ok 0: no successful forward to go back through. */
    int forward_ok;
    int forward_in_ndim, forward_out_ndim;
    int64_t forward_in_shape[LAP_MAX_DIMS], forward_out_shape[LAP_MAX_DIMS];
    int planned;           /* part of a container's fused path (resnet_fused.c): calls on it are counted */
};

/* Generic entry points: check arguments, dispatch, and keep the contract.
 * A forward that fails changes nothing a backward could use: the module keeps its
 * previous input, and a layer validates its input before writing anything.  A
 * container whose child failed cannot undo the children that ran before it, so it
 * is marked as having no forward pass: backward then refuses until the next forward.
 * Backward checks that the input and output it is about to use still have the shapes
 * the forward saw. */
int lap_module_forward(lap_module *m, lap_tensor *input);
int lap_module_backward(lap_module *m, const lap_tensor *grad_output);
/* LAP_OK when m's last forward succeeded and its input and output still have the
 * shapes that forward saw; else LAP_ERR with a message naming m, `what` and the shapes. */
int lap_module_check_forward(const lap_module *m, const char *what);
/* forward in eval mode (BatchNorm on running statistics), the mode restored after. */
int lap_module_forward_eval(lap_module *m, lap_tensor *input);
/* Inference: forward in eval mode that keeps nothing for a backward pass.  Containers
 * free each intermediate output once the next module has consumed it (the storage
 * goes to the tensor pool and serves the next output), and a ResNet adds each block's
 * displacement into one running state instead of keeping every x_k.  Only m->output,
 * and a ResNet's block costs, are valid afterwards; a backward, or a probe of the
 * displacements, needs an ordinary forward first.  Used by evaluation (lap_evaluate). */
int lap_module_infer(lap_module *m, lap_tensor *input);
/* For a container that computed a child's output itself (a BatchNorm fused with the
 * in-place ReLU after it): leaves the child as a successful forward would have. */
void lap_module_adopt_forward(lap_module *m, lap_tensor *input, lap_tensor *output);
int lap_inference_active(void);   /* 1 inside lap_module_infer (this thread) */
lap_module *lap_module_retain(lap_module *m);
void lap_module_release(lap_module *m);                 /* NULL-safe */
void lap_module_train(lap_module *m, int training);     /* recursive */
/* Counts changes of any module's train/eval flag: a network put in a mode stays in it
 * while this (and lap_module_structure_generation) did not change. */
uint64_t lap_module_mode_generation(void);
void lap_module_freeze(lap_module *m, int frozen);      /* recursive */
/* Counts lap_module_freeze calls: a cached list of trainable parameters is stale
 * when it changed. */
uint64_t lap_module_freeze_generation(void);
/* Counts lap_module_add_child calls: a cached walk of a network is stale when it changed. */
uint64_t lap_module_structure_generation(void);
/* Counts the calls that can change what a planned module holds (forward, backward,
 * adopted outputs, a dropped gradient, a mode change): a container's fused path
 * caches its children's buffers and is stale when it changed. */
uint64_t lap_module_state_generation(void);
void lap_module_zero_grad(lap_module *m);               /* recursive */
void lap_module_describe(const lap_module *m, char *buf, size_t size);
/* Drops m's input gradient (and, for a Sequential, its first child's, which is the
 * same tensor) once the caller has consumed it, so that its memory can hold the
 * next gradient of the backward pass.  Containers call it on their children. */
void lap_module_drop_grad_input(lap_module *m);

/* Parameter lists, depth first.  trainable_only skips frozen modules.
 * Returns the count; fills at most `capacity` entries of params/grads (either may be NULL). */
int lap_module_parameters(lap_module *m, int trainable_only, lap_tensor **params,
                          lap_tensor **grads, int capacity);

/* Visits m and every descendant, depth first (parents before children). */
typedef int (*lap_module_visitor)(lap_module *m, void *context);
int lap_module_visit(lap_module *m, lap_module_visitor visit, void *context);

/* For implementations: initialise the common part (refcount 1, train mode). */
void lap_module_init(lap_module *m, const lap_module_ops *ops);
/* Registers a parameter (takes ownership of value; allocates its zeroed gradient). */
int lap_module_add_param(lap_module *m, const char *name, lap_tensor *value);
/* Registers a buffer (takes ownership of value). */
int lap_module_add_buffer(lap_module *m, const char *name, lap_tensor *value);
/* The buffer of that name, or NULL. */
lap_tensor *lap_module_buffer(const lap_module *m, const char *name);
/* Adds a child (retains it).  Refuses a child that is m or contains m: a module
 * inside itself would make every walk of the network recurse without end. */
int lap_module_add_child(lap_module *m, lap_module *child, const char *label);
/* 1 if `inner` is m or one of its descendants. */
int lap_module_contains(const lap_module *m, const lap_module *inner);
int lap_module_is(const lap_module *m, const char *type);

/* ---- layers (linear.c, batchnorm.c, activations.c, sequential.c) ---- */
lap_module *lap_linear_new(int64_t in_features, int64_t out_features, int bias);
lap_module *lap_batchnorm_new(int64_t features, double momentum, double eps);
/* LayerNorm over the last dimension (layernorm.c); affine: learned weight and bias (F). */
lap_module *lap_layernorm_new(int64_t features, double eps, int affine);
lap_module *lap_relu_new(void);
/* ReLU working in place, like torch's ReLU(inplace=True): its output overwrites its
 * input and its backward overwrites grad_output (two buffers saved; use it where
 * neither is needed afterwards, e.g. after BatchNorm, Conv2d or Linear). */
lap_module *lap_relu_inplace_new(void);
int lap_relu_is_inplace(const lap_module *m);   /* 1 for a ReLU made by lap_relu_inplace_new */
lap_module *lap_tanh_new(void);
lap_module *lap_sigmoid_new(void);
lap_module *lap_sequential_new(void);   /* children added with lap_module_add_child */

/* ---- convolutions (conv.c), NCHW ---- */
/* weight (out, in / groups, kernel_h, kernel_w), bias (out).  Output size
 * floor((H + 2 padding - kernel) / stride) + 1, as torch.nn.Conv2d (dilation 1). */
lap_module *lap_conv2d_new(int64_t in_channels, int64_t out_channels, int kernel_h, int kernel_w, int stride,
                           int padding, int groups, int bias);
/* weight (in, out, kernel, kernel), bias (out), as torch.nn.ConvTranspose2d (groups 1,
 * dilation 1): output size (H - 1) stride - 2 padding + kernel + output_padding. */
lap_module *lap_conv_transpose2d_new(int64_t in_channels, int64_t out_channels, int kernel, int stride,
                                     int padding, int output_padding, int bias);

/* ---- pooling and reshaping (pooling.c), NCHW ---- */
lap_module *lap_avgpool2d_new(int kernel, int stride, int padding);   /* stride 0 means = kernel; count_include_pad */
lap_module *lap_maxpool2d_new(int kernel, int stride, int padding);   /* stride 0 means = kernel */
lap_module *lap_global_avgpool_new(void);                             /* (N, C, H, W) -> (N, C) */
lap_module *lap_flatten_new(void);                                    /* (N, ...) -> (N, rest) */

/* BatchNorm running statistics, its buffers "running_mean" and "running_var" (for
 * tests and the trainer, which restores them after a failed step). */
lap_tensor *lap_batchnorm_running_mean(lap_module *m);
lap_tensor *lap_batchnorm_running_var(lap_module *m);
/* For Sequential's fusion of a BatchNorm with the in-place ReLU after it: */
extern const lap_module_ops lap_batchnorm_ops;
/* 1 for a BatchNorm (inline: Sequential asks for every child in both passes) */
static inline int lap_batchnorm_is(const lap_module *m) { return m && m->ops == &lap_batchnorm_ops; }
void lap_batchnorm_fuse_relu(lap_module *m, int on);    /* the next forward writes relu(y) */
/* Recomputes relu(batchnorm(input)) into the BatchNorm's (evicted) output, with the
 * statistics of its last forward: the same values, bit for bit. */
int lap_batchnorm_relu_recompute(lap_module *m);
/* Inference: a Sequential's eval-mode BatchNorm, ReLU and Conv2d run as one
 * convolution that applies the other two to its input on the way in (conv.c,
 * winograd.c), neither of their outputs being written.  The BatchNorm's eval
 * parameters for an input (its mean_used and inv_std set as its forward sets them),
 * or LAP_ERR (no error recorded) when it is in train mode or the input does not fit. */
int lap_batchnorm_eval_params(lap_module *m, const lap_tensor *input, const float **mean, const float **inv_std,
                              const float **weight, const float **bias);
/* 1 when the Conv2d m can take relu(batchnorm(input)) that way (3x3 Winograd geometry). */
int lap_conv2d_fuses_input_affine(const lap_module *m, const lap_tensor *input);
/* m's forward of relu(weight * ((input - mean) * inv_std) + bias), per channel. */
int lap_conv2d_forward_affine_relu(lap_module *m, lap_tensor *input, const float *mean, const float *inv_std,
                                   const float *weight, const float *bias);

#endif
