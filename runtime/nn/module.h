/* module.h: the Module contract (torch/nn's), in C.
 *
 * A module is a struct that embeds `lap_module` as its first member, with a small
 * vtable.  forward(input) computes m->output (a buffer the module owns and reuses
 * across calls; callers must copy it if they keep it past the next forward) and
 * keeps a reference to its input.  backward(grad_output) computes m->grad_input
 * and ACCUMULATES (+=) into its parameter gradients unless the module is frozen;
 * zeroing gradients is explicit (lap_module_zero_grad).  Parameters and their
 * gradients are parallel arrays.  Containers (Sequential, ResNet) are modules.
 *
 * Errors: a leaf reports "Type: message"; a container rewrites a child's message
 * into "Container.child[i].Type: message" (lap_error_wrap), so the user sees where
 * in the network it failed.
 */
#ifndef LAP_MODULE_H
#define LAP_MODULE_H

#include "core/tensor.h"

typedef struct lap_module lap_module;

typedef struct lap_module_ops {
    const char *type;                                    /* "Linear", "BatchNorm", ... */
    int (*forward)(lap_module *m, lap_tensor *input);    /* sets m->output */
    int (*backward)(lap_module *m, const lap_tensor *grad_output); /* sets m->grad_input */
    void (*destroy)(lap_module *m);                      /* frees type-specific state */
    /* "Linear(2 -> 3)" style description into buf; NULL means just the type */
    void (*describe)(const lap_module *m, char *buf, size_t size);
} lap_module_ops;

#define LAP_MAX_PARAMS 4

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
/* Adds a child (retains it).  Refuses a child that is m or contains m: a module
 * inside itself would make every walk of the network recurse without end. */
int lap_module_add_child(lap_module *m, lap_module *child, const char *label);
/* 1 if `inner` is m or one of its descendants. */
int lap_module_contains(const lap_module *m, const lap_module *inner);
int lap_module_is(const lap_module *m, const char *type);

/* ---- layers (layers.c) ---- */
lap_module *lap_linear_new(int64_t in_features, int64_t out_features, int bias);
lap_module *lap_batchnorm_new(int64_t features, double momentum, double eps);
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

/* ---- pooling and reshaping (pool.c), NCHW ---- */
lap_module *lap_avgpool2d_new(int kernel, int stride, int padding);   /* stride 0 means = kernel; count_include_pad */
lap_module *lap_maxpool2d_new(int kernel, int stride, int padding);   /* stride 0 means = kernel */
lap_module *lap_global_avgpool_new(void);                             /* (N, C, H, W) -> (N, C) */
lap_module *lap_flatten_new(void);                                    /* (N, ...) -> (N, rest) */

/* BatchNorm running statistics (for tests and checkpoints). */
lap_tensor *lap_batchnorm_running_mean(lap_module *m);
lap_tensor *lap_batchnorm_running_var(lap_module *m);

/* A module's own configuration (not its children) as a JSON object, e.g.
 * {"type": "Linear", "in": 2, "out": 3, "bias": true, "frozen": false}, into buf;
 * returns buf, or NULL (lap_error) for an unknown type or a too small buffer.
 * Implemented in checkpoint.c, which also parses it back (checkpoint.h). */
const char *lap_module_config(const lap_module *m, char *buf, size_t size);

#endif
