// Checkpoints to and from safetensors, so that weights trained by mds can be
// loaded by PyTorch / Hugging Face tools and weights changed there can come
// back. The tensors are named as mds names its parameters ("word_embedding",
// "layer.0.attention.qkv.weight", ...; docs/model.md), the EMA copies, on
// request, as "ema." + name; the config and tokenizer travel in the
// "__metadata__" map, so one file is enough to rebuild a checkpoint that
// samples. Mapping and checks: docs/format.md, "safetensors".
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "io/container.h"
#include "io/safetensors.h"

namespace mds::train {

// Prefix of the EMA tensors in an export.
constexpr const char* kSafetensorsEmaPrefix = "ema.";

struct SafetensorsExportOptions {
  DType weight_dtype = DType::bf16;                 // bf16 or f32
  bool ema = false;                                 // also write the EMA weights ("ema." + name)
  nlohmann::json about = nlohmann::json::object();  // stored as metadata "mds.about"
};

// A checkpoint (training, sampling or imported) as safetensors. The tensors
// without prefix are its "param/" weights: the trained weights of a training
// checkpoint, the EMA weights of a sampling checkpoint (metadata "mds.weights"
// says which). Bad input (exit 3) naming the source for a file that is not a
// checkpoint, lacks its config or tokenizer, or lacks the EMA asked for.
SafeTensorsFile checkpoint_to_safetensors(const Container& checkpoint, const SafetensorsExportOptions& opt);

// The reverse: a checkpoint that mds-sample reads. Every tensor is checked
// against the parameters the metadata's model config defines: each name
// present with its shape and an F32 or BF16 dtype, no unknown name, finite
// values; the tokenizer is rebuilt from the metadata and checked (content
// hash, self-test samples, vocabulary size = the config's). With "ema."
// tensors the result holds "param/" and "ema/" sections (mds samples with the
// EMA); without, it is a sampling checkpoint (meta "export") whose "param/"
// sections are the imported weights. Bad input (exit 3) naming the source and
// the tensor for any mismatch.
Container safetensors_to_checkpoint(const SafeTensorsFile& file);

// File to file, written atomically. Return a summary for the tool's message:
// {"tensors", "parameters", "weights", "ema"}.
nlohmann::json export_safetensors_file(const std::string& in, const std::string& out,
                                       const SafetensorsExportOptions& opt);
nlohmann::json import_safetensors_file(const std::string& in, const std::string& out);

}  // namespace mds::train
