/*
 * inferd's header for custom pipeline nodes: the C ABI of OpenVINO Model
 * Server's custom nodes, written for inferd from that ABI's documented
 * layout. A library built against either header loads in either server.
 *
 * A library exports the six functions below. Every pointer a library hands
 * out (the outputs array of execute, each output's data and dims, the info
 * arrays and their dims) is given back through its release(); names are
 * the library's own strings and are never released. Functions return 0 on
 * success. inferd calls them from several threads at once.
 */
#ifndef INFERD_CUSTOM_NODE_INTERFACE_H
#define INFERD_CUSTOM_NODE_INTERFACE_H

#include <stdint.h>

/* Element types; the numbering is part of the ABI. */
typedef enum {
    UNSPECIFIED = 0,
    FP32 = 1,
    FP16 = 2,
    U8 = 3,
    I8 = 4,
    I16 = 5,
    U16 = 6,
    I32 = 7,
    FP64 = 8,
    I64 = 9
} CustomNodeTensorPrecision;

/* A tensor: name, packed little-endian data and its size in bytes, the
 * dimensions, the element type. */
struct CustomNodeTensor {
    const char* name;
    uint8_t* data;
    uint64_t dataBytes;
    uint64_t* dims;
    uint64_t dimsCount;
    CustomNodeTensorPrecision precision;
};

/* An input or output as the library declares it; a dimension of 0 takes
 * any size. */
struct CustomNodeTensorInfo {
    const char* name;
    uint64_t* dims;
    uint64_t dimsCount;
    CustomNodeTensorPrecision precision;
};

/* One entry of the node's "params" in config.json. */
struct CustomNodeParam {
    const char* key;
    const char* value;
};

#ifdef __cplusplus
extern "C" {
#endif

/* Called once per node of a configuration, with the node's params; may set
 * *state to anything the other calls of that node then receive. */
int initialize(void** state, const struct CustomNodeParam* params, int paramsCount);
/* Called when the configuration no longer has the node. */
int deinitialize(void* state);
/* Runs the node: reads inputs (never writes them), allocates *outputs
 * (*outputsCount entries) and their data and dims. */
int execute(const struct CustomNodeTensor* inputs, int inputsCount,
            struct CustomNodeTensor** outputs, int* outputsCount,
            const struct CustomNodeParam* params, int paramsCount, void* state);
/* Describe the inputs and outputs: allocate *info (*infoCount entries) and
 * each entry's dims. */
int getInputsInfo(struct CustomNodeTensorInfo** info, int* infoCount,
                  const struct CustomNodeParam* params, int paramsCount, void* state);
int getOutputsInfo(struct CustomNodeTensorInfo** info, int* infoCount,
                   const struct CustomNodeParam* params, int paramsCount, void* state);
/* Frees memory this library handed out. */
int release(void* ptr, void* state);

#ifdef __cplusplus
}
#endif

#endif
