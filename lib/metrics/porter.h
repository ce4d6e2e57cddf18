// Porter stemmer exactly as nltk 3.8's PorterStemmer() in its default
// NLTK_EXTENSIONS mode (the variant rouge-score's --stem uses). Algorithm:
// M.F. Porter, "An algorithm for suffix stripping", Program 14(3), 1980,
// plus the NLTK departures listed in docs/metrics.md.
#pragma once

#include <string>
#include <string_view>

namespace mds {

// Stems one lower-case word. Like nltk, words of length <= 2 come back
// unchanged and a few irregular forms map through a fixed table.
std::string porter_stem(std::string_view word);

}  // namespace mds
