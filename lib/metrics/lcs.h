// Longest common subsequence of two id sequences, bit-parallel (Allison &
// Dix 1986; Hyyro 2004: one machine word holds 64 DP cells of a row), so
// ROUGE-L on long documents costs m*n/64 word operations.
//
// backtrack() returns the very LCS that rouge-score's _backtrack_norec picks
// from its full DP table (diagonal on equal tokens, else left when
// t[i][j-1] > t[i-1][j], else up), which matters for ROUGE-Lsum's union LCS.
// Rows of the table are kept as bit vectors (1 bit per cell); when that
// would exceed the memory budget only every k-th row is kept and blocks of
// rows are recomputed during the backtrack (memory O(sqrt(rows) * n / 64)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mds {

class LcsEngine {
 public:
  // Ids must be < alphabet (dense per example).
  size_t length(const uint32_t* a, size_t m, const uint32_t* b, size_t n, size_t alphabet);
  // Indices into a (ascending) of rouge-score's backtracked LCS of (a, b).
  void backtrack(const uint32_t* a, size_t m, const uint32_t* b, size_t n, size_t alphabet,
                 std::vector<uint32_t>& out);
  // The same in two steps, so that one column sequence b can be paired with
  // many row sequences a (ROUGE-Lsum): set_columns(b) once, then for each a
  // shares_symbol(a) (false means the LCS is empty) and backtrack_rows(a).
  void set_columns(const uint32_t* b, size_t n, size_t alphabet);
  bool shares_symbol(const uint32_t* a, size_t m) const;
  void backtrack_rows(const uint32_t* a, size_t m, std::vector<uint32_t>& out);
  // Bytes of row storage allowed before checkpointing kicks in (for tests).
  void set_row_budget_bytes(size_t bytes) { row_budget_ = bytes; }
  // Words of precomputed match masks allowed before masks are built per row (for tests).
  void set_mask_budget_words(size_t words) { mask_budget_ = words; }

 private:
  // Indexes the bit-side sequence: match masks (one bit per position) for
  // each symbol, precomputed while symbols x words stays small, otherwise
  // built per row from the symbol's positions. Returns words per row.
  size_t build_masks(const uint32_t* bits, size_t nbits, size_t alphabet);
  bool present(uint32_t sym) const { return sym < stamp_of_.size() && stamp_of_[sym] == stamp_; }
  void backtrack_one_word(const uint32_t* a, size_t m, std::vector<uint32_t>& out);
  // row_out = transition of row_in by the match mask of symbol sym.
  void step(const uint64_t* row_in, uint64_t* row_out, uint32_t sym, size_t words);

  std::vector<uint32_t> slot_of_;   // symbol -> mask slot + 1 (0: absent), valid where stamp matches
  std::vector<uint32_t> stamp_of_;
  uint32_t stamp_ = 0;
  std::vector<uint64_t> masks_;     // dense mode: slot-major, words per slot
  bool dense_ = true;
  std::vector<uint32_t> pos_begin_, positions_, cursor_;  // sparse mode: positions of each slot (CSR)
  std::vector<uint64_t> scratch_;   // sparse mode: the mask being used
  size_t words_ = 0;
  std::vector<uint64_t> rows_;      // stored rows (all, or checkpoints)
  std::vector<uint64_t> block_;     // recomputed block of rows when checkpointing
  std::vector<uint64_t> cur_, next_;
  const uint32_t* cols_ = nullptr;  // column sequence of set_columns
  size_t ncols_ = 0;
  size_t row_budget_ = size_t(64) << 20;
  size_t mask_budget_ = size_t(1) << 22;
};

}  // namespace mds
