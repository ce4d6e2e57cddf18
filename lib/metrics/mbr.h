// Minimum Bayes risk selection shared by mds-sample and mds-eval: DiffuSeq's
// selectBest, i.e. the candidate whose summed nltk method4 sentence BLEU
// against all the other candidates is highest (first one on ties).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mds {

// Index of the MBR candidate. Throws mds::Error (usage) for an empty list.
size_t select_mbr(const std::vector<std::string>& candidates);

// The same for many candidate sets on `threads` threads (0 = all cores).
std::vector<size_t> select_mbr_many(const std::vector<std::vector<std::string>>& candidate_sets, int threads);

}  // namespace mds
