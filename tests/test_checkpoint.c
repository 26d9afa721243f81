/* test_checkpoint.c: unit tests of runtime/io/checkpoint.c: the safetensors round trip
 * (tensors, metadata, escapes, alignment, atomic write), every kind of corrupt file
 * (each must give a clear error naming the file), architecture round trips, and
 * network weights with shape mismatches.  Prints each failed check; exits nonzero
 * if any failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "core/error.h"
#include "nn/resnet.h"
#include "check.h"

/* CHECK_LAST(cond): check.h's CHECK with the runtime's last error as its message. */
#define CHECK_LAST(cond) CHECK(cond, "last error: %s", lap_last_error())

static char dir[256];

static const char *file(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* Writes a file from an 8-byte length (declared; -1 = actual), a header and data. */
static void write_raw(const char *path, long long declared, const char *header, const void *data, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    unsigned long long n = declared < 0 ? strlen(header) : (unsigned long long)declared;
    unsigned char len8[8];
    for (int k = 0; k < 8; k++)
        len8[k] = (unsigned char)(n >> (8 * k));
    fwrite(len8, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (bytes)
        fwrite(data, 1, bytes, f);
    fclose(f);
}

/* Expects reading `header` + `bytes` of data to fail with a message containing both fragments. */
static void expect_corrupt(const char *name, long long declared, const char *header, size_t bytes,
                           const char *fragment, int line)
{
    static float zeros[64];
    const char *path = file(name);
    write_raw(path, declared, header, zeros, bytes);
    lap_safetensors *st = lap_safetensors_read(path);
    checks++;
    if (st || !strstr(lap_last_error(), fragment) || !strstr(lap_last_error(), path)) {
        failures++;
        fprintf(stderr, "%s:%d: %s: expected an error containing \"%s\" and the path, got %s (\"%s\")\n", __FILE__,
                line, name, fragment, st ? "success" : "an error", lap_last_error());
    }
    lap_safetensors_free(st);
}
#define EXPECT_CORRUPT(name, declared, header, bytes, fragment) \
    expect_corrupt(name, declared, header, bytes, fragment, __LINE__)

static void test_round_trip(void)
{
    int64_t shape[3] = {2, 3, 4};
    lap_tensor *a = lap_tensor_new(3, shape);
    for (int i = 0; i < 24; i++)
        lap_data(a)[i] = (float)i * 0.5f - 3.0f;
    int64_t one = 5;
    lap_tensor *b = lap_tensor_new(1, &one);
    for (int i = 0; i < 5; i++)
        lap_data(b)[i] = 1.0f / (float)(i + 1);
    lap_safetensors *st = lap_safetensors_new();
    CHECK_LAST(lap_safetensors_add(st, "layer.weight", a) == LAP_OK);
    CHECK_LAST(lap_safetensors_add(st, "quote\"and\\slash \xc3\xa9", b) == LAP_OK);
    CHECK_LAST(lap_safetensors_add(st, "layer.weight", b) == LAP_ERR && strstr(lap_last_error(), "duplicate"));
    CHECK_LAST(lap_safetensors_set_meta(st, "note", "line\nbreak \"quoted\" \ttab") == LAP_OK);
    CHECK_LAST(lap_safetensors_set_meta(st, "note", "replaced\n\"x\"") == LAP_OK);
    const char *path = file("round.safetensors");
    CHECK_LAST(lap_safetensors_write(st, path) == LAP_OK);
    lap_safetensors_free(st);
    /* No temporary file is left behind. */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK_LAST(access(tmp, F_OK) != 0);
    /* The header is padded to a multiple of 8. */
    FILE *f = fopen(path, "rb");
    unsigned char len8[8];
    CHECK_LAST(fread(len8, 1, 8, f) == 8);
    fclose(f);
    CHECK_LAST(len8[0] % 8 == 0);

    lap_safetensors *r = lap_safetensors_read(path);
    CHECK_LAST(r != NULL);
    if (!r)
        goto done;
    CHECK_LAST(lap_safetensors_count(r) == 2);
    lap_tensor *ra = lap_safetensors_get(r, "layer.weight");
    lap_tensor *rb = lap_safetensors_get(r, "quote\"and\\slash \xc3\xa9");
    CHECK_LAST(ra && lap_same_shape(ra, a) && memcmp(lap_data(ra), lap_data(a), 24 * sizeof(float)) == 0);
    CHECK_LAST(rb && lap_same_shape(rb, b) && memcmp(lap_data(rb), lap_data(b), 5 * sizeof(float)) == 0);
    CHECK_LAST(lap_safetensors_meta(r, "note") && strcmp(lap_safetensors_meta(r, "note"), "replaced\n\"x\"") == 0);
    CHECK_LAST(lap_safetensors_meta(r, "absent") == NULL);
    lap_safetensors_free(r);
done:
    lap_tensor_release(a);
    lap_tensor_release(b);

    /* Hand-written headers with whitespace, escapes and \u sequences are accepted. */
    float two[2] = {1.5f, -2.0f};
    write_raw(file("hand.safetensors"), -1,
              " { \"__metadata__\" : { \"k\\u00e9y\" : \"v\\/\\u20ac\" } ,\n \"t\" : {\"shape\":[2], \"dtype\":\"F32\","
              " \"data_offsets\" : [ 0 , 8 ] } }  ",
              two, sizeof two);
    r = lap_safetensors_read(file("hand.safetensors"));
    CHECK_LAST(r && lap_safetensors_get(r, "t") && lap_data(lap_safetensors_get(r, "t"))[1] == -2.0f);
    CHECK_LAST(r && lap_safetensors_meta(r, "k\xc3\xa9y") &&
          strcmp(lap_safetensors_meta(r, "k\xc3\xa9y"), "v/\xe2\x82\xac") == 0);
    lap_safetensors_free(r);
    /* An empty file of tensors is valid. */
    write_raw(file("empty.safetensors"), -1, "{}      ", NULL, 0);
    r = lap_safetensors_read(file("empty.safetensors"));
    CHECK_LAST(r && lap_safetensors_count(r) == 0);
    lap_safetensors_free(r);
}

static void test_corrupt(void)
{
    const char *good = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    /* Truncated: shorter than the length prefix, and data cut short. */
    FILE *f = fopen(file("tiny.safetensors"), "wb");
    fwrite("abc", 1, 3, f);
    fclose(f);
    CHECK_LAST(lap_safetensors_read(file("tiny.safetensors")) == NULL && strstr(lap_last_error(), "too short"));
    EXPECT_CORRUPT("truncated_data", -1, good, 4, "outside the data");
    EXPECT_CORRUPT("truncated_header", (long long)strlen(good) + 40, good, 8, "larger than the file");
    /* A huge declared length must not be allocated. */
    EXPECT_CORRUPT("huge_length", 0x7fffffffffffffffLL, good, 8, "larger than the file");
    /* JSON syntax. */
    EXPECT_CORRUPT("bad_json", -1, "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8,
                   "JSON syntax error");
    EXPECT_CORRUPT("trailing_comma", -1, "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]}}", 8,
                   "JSON syntax error");
    EXPECT_CORRUPT("single_quotes", -1, "{'t':{}}", 0, "JSON syntax error");
    EXPECT_CORRUPT("trailing_garbage", -1, "{} x", 0, "trailing characters");
    EXPECT_CORRUPT("not_object", -1, "[1, 2]  ", 0, "not a JSON object");
    EXPECT_CORRUPT("duplicate", -1,
                   "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                   8, "duplicate key 't'");
    EXPECT_CORRUPT("deep", -1, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 0,
                   "nested deeper");
    EXPECT_CORRUPT("leading_zero", -1, "{\"t\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8,
                   "JSON syntax error");
    /* Content. */
    EXPECT_CORRUPT("dtype", -1, "{\"block.1.weight\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", 8,
                   "tensor 'block.1.weight' has dtype 'F16'; only F32 is supported");
    EXPECT_CORRUPT("offsets_out", -1, "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
                   "tensor 't': data_offsets [0, 16] are outside the data (8 bytes)");
    EXPECT_CORRUPT("offsets_reversed", -1, "{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8,
                   "outside the data");
    EXPECT_CORRUPT("overlap", -1,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                   12, "tensors 'a' and 'b' overlap");
    EXPECT_CORRUPT("hole", -1,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                   12, "belong to no tensor");
    EXPECT_CORRUPT("extra_bytes", -1, good, 12, "belong to no tensor");
    EXPECT_CORRUPT("shape_vs_offsets", -1, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3, 2],\"data_offsets\":[0,16]}}",
                   16, "tensor 'w' has shape [3, 2] (24 bytes of F32) but data_offsets [0, 16] hold 16 bytes");
    EXPECT_CORRUPT("negative_dim", -1, "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                   "not a valid size");
    EXPECT_CORRUPT("too_many_dims", -1,
                   "{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "dimensions");
    EXPECT_CORRUPT("missing_offsets", -1, "{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets must be");
    EXPECT_CORRUPT("unknown_field", -1,
                   "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8,
                   "unknown field 'extra'");
    EXPECT_CORRUPT("meta_number", -1, "{\"__metadata__\":{\"a\":1}}", 0, "is not a string");
    EXPECT_CORRUPT("control_char", -1, "{\"a\nb\":1}", 0, "control character");
    EXPECT_CORRUPT("lone_surrogate", -1, "{\"__metadata__\":{\"a\":\"\\ud800\"}}", 0, "surrogate");
    CHECK_LAST(lap_safetensors_read(file("does-not-exist")) == NULL && strstr(lap_last_error(), "cannot open"));
}

/* Every single-byte corruption of a small valid file either reads (a changed value or
 * a still-valid header) or fails with an error naming the file: never a crash. */
static void test_byte_flips(void)
{
    lap_module *lin = lap_linear_new(3, 2, 1);
    const char *path = file("flip_src.safetensors"), *bad = file("flip.safetensors");
    CHECK_LAST(lap_module_save(lin, path) == LAP_OK);
    lap_module_release(lin);
    FILE *f = fopen(path, "rb");
    static unsigned char blob[8192];
    size_t n = fread(blob, 1, sizeof blob, f);
    fclose(f);
    int named = 1;
    const unsigned char values[] = {0x00, '"', '9'};
    for (size_t i = 0; i < n; i++)
        for (size_t v = 0; v < sizeof values; v++) {
            unsigned char saved = blob[i];
            blob[i] = values[v];
            f = fopen(bad, "wb");
            fwrite(blob, 1, n, f);
            fclose(f);
            blob[i] = saved;
            lap_safetensors *st = lap_safetensors_read(bad);
            if (!st)
                named &= strstr(lap_last_error(), bad) != NULL;
            lap_safetensors_free(st);
        }
    CHECK_LAST(named);
    /* Every truncation fails. */
    int all_fail = 1;
    for (size_t len = 0; len < n; len++) {
        f = fopen(bad, "wb");
        fwrite(blob, 1, len, f);
        fclose(f);
        lap_safetensors *st = lap_safetensors_read(bad);
        all_fail &= st == NULL;
        lap_safetensors_free(st);
    }
    CHECK_LAST(all_fail);
}

/* The configuration text of each layer type (ReLU's inplace flag comes from layers.c's layout). */
static void test_configs(void)
{
    char buf[512];
    struct {
        lap_module *m;
        const char *want;
    } cases[] = {
        {lap_relu_inplace_new(), "{\"type\":\"ReLU\",\"inplace\":true,\"frozen\":false}"},
        {lap_relu_new(), "{\"type\":\"ReLU\",\"inplace\":false,\"frozen\":false}"},
        {lap_linear_new(3, 5, 0), "{\"type\":\"Linear\",\"in\":3,\"out\":5,\"bias\":false,\"frozen\":false}"},
        {lap_conv2d_new(4, 8, 3, 1, 2, 1, 2, 0),
         "{\"type\":\"Conv2d\",\"in\":4,\"out\":8,\"kh\":3,\"kw\":1,\"stride\":2,\"padding\":1,\"groups\":2,"
         "\"bias\":false,\"frozen\":false}"},
        {lap_conv_transpose2d_new(8, 4, 5, 2, 2, 1, 1),
         "{\"type\":\"ConvTranspose2d\",\"in\":8,\"out\":4,\"kernel\":5,\"stride\":2,\"padding\":2,"
         "\"output_padding\":1,\"bias\":true,\"frozen\":false}"},
        {lap_maxpool2d_new(3, 2, 1), "{\"type\":\"MaxPool2d\",\"kernel\":3,\"stride\":2,\"padding\":1,\"frozen\":false}"},
        {lap_avgpool2d_new(2, 0, 0), "{\"type\":\"AvgPool2d\",\"kernel\":2,\"stride\":2,\"padding\":0,\"frozen\":false}"},
        {lap_batchnorm_new(6, 0.25, 0.001),
         "{\"type\":\"BatchNorm\",\"features\":6,\"momentum\":0.25,\"eps\":0.001,\"frozen\":false}"},
        {lap_flatten_new(), "{\"type\":\"Flatten\",\"frozen\":false}"},
        {lap_global_avgpool_new(), "{\"type\":\"GlobalAvgPool\",\"frozen\":false}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = lap_module_config(cases[i].m, buf, sizeof buf);
        checks++;
        if (!got || strcmp(got, cases[i].want) != 0) {
            failures++;
            fprintf(stderr, "%s:%d: config of %s: got %s, want %s\n", __FILE__, __LINE__, cases[i].m->ops->type,
                    got ? got : lap_last_error(), cases[i].want);
        }
        /* And back: the rebuilt module describes itself the same way. */
        lap_module *back = got ? lap_module_from_architecture(got) : NULL;
        char again[512];
        CHECK_LAST(back && lap_module_config(back, again, sizeof again) && strcmp(again, cases[i].want) == 0);
        lap_module_release(back);
        lap_module_release(cases[i].m);
    }
    lap_module *tiny = lap_linear_new(2, 2, 1);
    CHECK_LAST(lap_module_config(tiny, buf, 10) == NULL && strstr(lap_last_error(), "does not fit"));
    lap_module_release(tiny);
}

static lap_module *small_net(int hidden)
{
    lap_module *blocks[2];
    for (int k = 0; k < 2; k++) {
        blocks[k] = lap_sequential_new();
        lap_module *parts[4] = {lap_linear_new(2, hidden, 1), lap_batchnorm_new(hidden, 0.2, 1e-4),
                                lap_relu_inplace_new(), lap_linear_new(hidden, 2, 0)};
        for (int i = 0; i < 4; i++) {
            lap_module_add_child(blocks[k], parts[i], NULL);
            lap_module_release(parts[i]);
        }
    }
    lap_module *classifier = lap_linear_new(2, 3, 1);
    lap_transport transport = {LAP_TRANSPORT_MEAN, 3.0};
    lap_module *net = lap_resnet_new(NULL, blocks, 2, classifier, 0.5, 1, transport);
    lap_module_release(blocks[0]);
    lap_module_release(blocks[1]);
    lap_module_release(classifier);
    return net;
}

static void test_networks(void)
{
    lap_module *net = small_net(4);
    int n = lap_module_parameters(net, 0, NULL, NULL, 0);
    lap_tensor *params[32];
    lap_module_parameters(net, 0, params, NULL, 32);
    for (int i = 0; i < n; i++)
        for (int64_t k = 0; k < lap_numel(params[i]); k++)
            lap_data(params[i])[k] = (float)(i + 1) * 0.25f + (float)k;
    lap_data(lap_batchnorm_running_mean(lap_as_resnet(net)->blocks[1]->children[1]))[2] = 7.0f;
    lap_as_resnet(net)->blocks[0]->children[0]->frozen = 1;

    char *arch = lap_module_architecture(net);
    CHECK_LAST(arch != NULL);
    lap_module *rebuilt = arch ? lap_module_from_architecture(arch) : NULL;
    CHECK_LAST(rebuilt != NULL);
    char *arch2 = rebuilt ? lap_module_architecture(rebuilt) : NULL;
    CHECK_LAST(arch2 && strcmp(arch, arch2) == 0);
    lap_resnet *r = rebuilt ? lap_as_resnet(rebuilt) : NULL;
    CHECK_LAST(r && r->step == 0.5 && r->relu_after == 1 && r->transport.p == 3.0 && r->nblocks == 2 && !r->encoder);
    CHECK_LAST(r && r->blocks[0]->children[0]->frozen == 1 && r->blocks[1]->children[0]->frozen == 0);
    free(arch);
    free(arch2);
    lap_module_release(rebuilt);

    const char *path = file("net.safetensors");
    CHECK_LAST(lap_module_save(net, path) == LAP_OK);
    lap_safetensors *st = lap_safetensors_read(path);
    CHECK_LAST(st && lap_safetensors_get(st, "block.2.2.running_mean") &&
          lap_data(lap_safetensors_get(st, "block.2.2.running_mean"))[2] == 7.0f);
    CHECK_LAST(st && lap_safetensors_get(st, "block.1.4.weight") && !lap_safetensors_get(st, "block.1.4.bias"));
    CHECK_LAST(st && lap_safetensors_get(st, "classifier.bias") && lap_safetensors_meta(st, "lap.architecture"));
    lap_safetensors_free(st);

    lap_module *loaded = lap_module_load(path);
    CHECK_LAST(loaded != NULL);
    if (loaded) {
        lap_tensor *mine[32];
        CHECK_LAST(lap_module_parameters(loaded, 0, mine, NULL, 32) == n);
        int same = 1;
        for (int i = 0; i < n; i++)
            same &= lap_same_shape(mine[i], params[i]) &&
                    memcmp(lap_data(mine[i]), lap_data(params[i]), sizeof(float) * (size_t)lap_numel(mine[i])) == 0;
        CHECK_LAST(same);
        CHECK_LAST(lap_data(lap_batchnorm_running_mean(lap_as_resnet(loaded)->blocks[1]->children[1]))[2] == 7.0f);
        lap_module_release(loaded);
    }

    /* Shape mismatch: the message names the file, the tensor and both shapes; nothing changes. */
    lap_module *other = small_net(3);
    lap_tensor *before = lap_tensor_clone(lap_as_resnet(other)->classifier->params[0]);
    CHECK_LAST(lap_module_load_weights(other, path) == LAP_ERR);
    char want[1200];
    snprintf(want, sizeof want,
             "checkpoint '%s': tensor 'block.1.1.weight' has shape [4, 2] in the file but [3, 2] in the network", path);
    CHECK_LAST(strcmp(lap_last_error(), want) == 0);
    CHECK_LAST(memcmp(lap_data(before), lap_data(lap_as_resnet(other)->classifier->params[0]), 6 * sizeof(float)) == 0);
    lap_tensor_release(before);
    lap_module_release(other);

    /* Architecture errors. */
    CHECK_LAST(lap_module_from_architecture("{\"type\":\"Dropout\"}") == NULL && strstr(lap_last_error(), "Dropout"));
    CHECK_LAST(lap_module_from_architecture("{\"type\":\"Linear\",\"in\":2}") == NULL &&
          strstr(lap_last_error(), "'out'"));
    CHECK_LAST(lap_module_from_architecture("{\"type\":") == NULL && strstr(lap_last_error(), "JSON"));
    /* A file without an architecture. */
    lap_safetensors *bare = lap_safetensors_new();
    lap_safetensors_add(bare, "weight", lap_as_resnet(net)->classifier->params[0]);
    lap_safetensors_write(bare, file("bare.safetensors"));
    lap_safetensors_free(bare);
    CHECK_LAST(lap_module_load(file("bare.safetensors")) == NULL && strstr(lap_last_error(), "no architecture"));
    /* Unwritable path: the error names it and no temporary file is left. */
    CHECK_LAST(lap_module_save(net, "/nonexistent-dir/net.safetensors") == LAP_ERR &&
          strstr(lap_last_error(), "/nonexistent-dir/net.safetensors"));
    lap_module_release(net);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/lap-test-checkpoint-%ld", (long)getpid());
    char command[400];
    snprintf(command, sizeof command, "mkdir -p '%s'", dir);
    if (system(command) != 0)
        return 1;
    test_round_trip();
    test_corrupt();
    test_networks();
    test_configs();
    test_byte_flips();
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_checkpoint");
}
