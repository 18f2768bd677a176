// C interface of the sentencepiece shim library (libnewsdedup_spm_shim.so).
// Internal to embeddings/: only tokenizer.cc opens the shim.
//
// Functions returning int return 0 on success; on failure they write a
// NUL-terminated message into `error` (at most `error_size` bytes).
#ifndef NEWSDEDUP_EMBEDDINGS_INTERNAL_SENTENCEPIECE_SHIM_H_
#define NEWSDEDUP_EMBEDDINGS_INTERNAL_SENTENCEPIECE_SHIM_H_

#include <stddef.h>

extern "C" {

// Loads a model; returns an opaque handle or nullptr.
typedef void* (*NdSpmLoadFn)(const char* path, char* error, size_t error_size);
// Frees a handle from NdSpmLoadFn.
typedef void (*NdSpmFreeFn)(void* handle);
// Encodes `text` into ids. Writes at most `capacity` ids to `ids` and returns
// the total count (call again with a larger buffer if it exceeds capacity),
// or -1 on error.
typedef long (*NdSpmEncodeFn)(void* handle, const char* text, size_t size,
                              int* ids, size_t capacity);
// Copies the piece for `id` into `out` (NUL-terminated, truncated to
// `out_size`); returns its full length or -1 for an unknown id.
typedef long (*NdSpmIdToPieceFn)(void* handle, int id, char* out,
                                 size_t out_size);
typedef int (*NdSpmVocabSizeFn)(void* handle);
// Runs the trainer with sentencepiece's command-line style arguments.
typedef int (*NdSpmTrainFn)(const char* args, char* error, size_t error_size);

}  // extern "C"

#endif  // NEWSDEDUP_EMBEDDINGS_INTERNAL_SENTENCEPIECE_SHIM_H_
