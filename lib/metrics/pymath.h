// Python's math.fsum: the correctly rounded sum of doubles (Shewchuk's
// exact partials, as CPython's msum does), which nltk's BLEU relies on.
#pragma once

#include <cstddef>

namespace mds {

double python_fsum(const double* values, size_t n);

}  // namespace mds
