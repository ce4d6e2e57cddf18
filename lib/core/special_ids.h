// The special token ids, shared by the tokenizer (lib/text), which reserves
// them first in every vocabulary, and the model (lib/model), which packs
// [CLS] src [SEP] trg [SEP] [PAD]... and learns the [MASK] absorbing state.
#pragma once

#include <cstdint>

namespace mds {

inline constexpr int32_t kPadId = 0;
inline constexpr int32_t kClsId = 1;
inline constexpr int32_t kSepId = 2;
inline constexpr int32_t kMaskId = 3;
// How many ids the specials take; the first byte token follows them.
inline constexpr uint32_t kNumSpecials = 4;

}  // namespace mds
