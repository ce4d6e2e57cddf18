// FNV-1a 64-bit hashing for content identities (tokenizer hash). Not a
// cryptographic hash: it names content, it does not authenticate it.
// Constants: Fowler/Noll/Vo, http://www.isthe.com/chongo/tech/comp/fnv/
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace mds {

class Fnv1a64 {
 public:
  void update(std::string_view bytes) {
    for (unsigned char c : bytes) {
      state_ ^= c;
      state_ *= 0x100000001b3ull;
    }
  }
  void update_u32(uint32_t v) {
    const char le[4] = {static_cast<char>(v & 0xFF), static_cast<char>((v >> 8) & 0xFF),
                        static_cast<char>((v >> 16) & 0xFF), static_cast<char>((v >> 24) & 0xFF)};
    update(std::string_view(le, 4));
  }
  uint64_t value() const { return state_; }
  std::string hex(const std::string& prefix = "") const { return prefix + fmt::format("{:016x}", state_); }

 private:
  uint64_t state_ = 0xcbf29ce484222325ull;
};

}  // namespace mds
