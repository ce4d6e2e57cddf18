// Checkpoint files: a "checkpoint" .mds container written atomically, never
// with a non-finite value, plus helpers to carry another container (the
// tokenizer) inside one under a section-name prefix so a checkpoint is
// self-contained (docs/design.md §3).
#pragma once

#include <string>

#include "io/container.h"

namespace mds::train {

constexpr const char* kCheckpointKind = "checkpoint";

// Throws a runtime error naming the first f32/f64/bf16 section holding a NaN or
// infinity (and the element index).
void check_finite(const Container& c);
// check_finite, then an atomic write (temp file + rename).
void write_checkpoint(const std::string& path, const Container& c);
// Reads a checkpoint; bad_input if the file is not one.
Container read_checkpoint(const std::string& path);

// Copies every section of `src` into `dst` as "<prefix><name>" and records
// src's kind and meta in dst.meta[meta_key].
void embed_container(Container& dst, const Container& src, const std::string& prefix, const std::string& meta_key);
// The inverse: the container that embed_container stored (bad_input if absent).
Container extract_embedded(const Container& from, const std::string& prefix, const std::string& meta_key);

}  // namespace mds::train
