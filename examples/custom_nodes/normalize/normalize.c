/*
 * Example custom node in C: per-image normalisation. Input "image" (FP32,
 * [N, M]: N images of M values each) -> output "normalized" (same shape):
 * each image minus its mean, divided by its standard deviation (plus
 * "epsilon", a param, default 1e-6). With the param "fail" set to "1",
 * execute reports an error (for tests).
 *
 * Build: cc -shared -fPIC -O2 -I ../include normalize.c -o libnormalize.so -lm
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "custom_node_interface.h"

static const char* param(const struct CustomNodeParam* params, int count, const char* key) {
    for (int i = 0; i < count; i++) {
        if (strcmp(params[i].key, key) == 0) {
            return params[i].value;
        }
    }
    return NULL;
}

int initialize(void** state, const struct CustomNodeParam* params, int paramsCount) {
    (void)params;
    (void)paramsCount;
    *state = NULL;
    return 0;
}

int deinitialize(void* state) {
    (void)state;
    return 0;
}

/* One [0, 0] FP32 tensor description called `name`. */
static int describe(struct CustomNodeTensorInfo** info, int* infoCount, const char* name) {
    *info = malloc(sizeof(struct CustomNodeTensorInfo));
    if (*info == NULL) {
        return 1;
    }
    (*info)->name = name;
    (*info)->dimsCount = 2;
    (*info)->dims = calloc(2, sizeof(uint64_t));
    (*info)->precision = FP32;
    *infoCount = 1;
    return (*info)->dims == NULL;
}

int getInputsInfo(struct CustomNodeTensorInfo** info, int* infoCount,
                  const struct CustomNodeParam* params, int paramsCount, void* state) {
    (void)params;
    (void)paramsCount;
    (void)state;
    return describe(info, infoCount, "image");
}

int getOutputsInfo(struct CustomNodeTensorInfo** info, int* infoCount,
                   const struct CustomNodeParam* params, int paramsCount, void* state) {
    (void)params;
    (void)paramsCount;
    (void)state;
    return describe(info, infoCount, "normalized");
}

int execute(const struct CustomNodeTensor* inputs, int inputsCount,
            struct CustomNodeTensor** outputs, int* outputsCount,
            const struct CustomNodeParam* params, int paramsCount, void* state) {
    (void)state;
    const char* fail = param(params, paramsCount, "fail");
    if (fail != NULL && strcmp(fail, "1") == 0) {
        return 1;
    }
    const char* epsilon_text = param(params, paramsCount, "epsilon");
    double epsilon = epsilon_text ? atof(epsilon_text) : 1e-6;
    const struct CustomNodeTensor* image = NULL;
    for (int i = 0; i < inputsCount; i++) {
        if (strcmp(inputs[i].name, "image") == 0) {
            image = &inputs[i];
        }
    }
    if (image == NULL || image->precision != FP32 || image->dimsCount != 2) {
        return 2;
    }
    uint64_t rows = image->dims[0], columns = image->dims[1];
    if (rows * columns * sizeof(float) != image->dataBytes) {
        return 3;
    }
    struct CustomNodeTensor* output = malloc(sizeof(struct CustomNodeTensor));
    float* data = malloc(image->dataBytes > 0 ? image->dataBytes : 1);
    uint64_t* dims = malloc(2 * sizeof(uint64_t));
    if (output == NULL || data == NULL || dims == NULL) {
        free(output);
        free(data);
        free(dims);
        return 4;
    }
    const float* in = (const float*)image->data;
    for (uint64_t r = 0; r < rows; r++) {
        const float* row = in + r * columns;
        double mean = 0, variance = 0;
        for (uint64_t c = 0; c < columns; c++) {
            mean += row[c];
        }
        mean = columns ? mean / columns : 0;
        for (uint64_t c = 0; c < columns; c++) {
            variance += (row[c] - mean) * (row[c] - mean);
        }
        double deviation = sqrt(columns ? variance / columns : 0) + epsilon;
        for (uint64_t c = 0; c < columns; c++) {
            data[r * columns + c] = (float)((row[c] - mean) / deviation);
        }
    }
    dims[0] = rows;
    dims[1] = columns;
    output->name = "normalized";
    output->data = (uint8_t*)data;
    output->dataBytes = image->dataBytes;
    output->dims = dims;
    output->dimsCount = 2;
    output->precision = FP32;
    *outputs = output;
    *outputsCount = 1;
    return 0;
}

int release(void* ptr, void* state) {
    (void)state;
    free(ptr);
    return 0;
}
