// CPU embedding: a parallel row gather, and a scatter-add parallel over column blocks (tokens summed in order).
#include "kernels/cpu/embedding.h"

#include <algorithm>

#include "kernels/cpu/indices.h"
#include "kernels/cpu/parallel.h"

namespace diverge::cpu {

template <class T>
void embedding_forward(const std::int32_t* ids, std::int64_t n, const T* table, std::int64_t vocab, std::int64_t dim,
                       T* out) {
  check_indices("embedding", "token id", ids, n, vocab);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) std::copy_n(table + ids[i] * dim, dim, out + i * dim);
}

template <class T>
void embedding_backward(const std::int32_t* ids, std::int64_t n, const T* dout, std::int64_t vocab, std::int64_t dim,
                        T* dtable) {
  check_indices("embedding_backward", "token id", ids, n, vocab);
  // A token repeated in the batch hits the same table row; splitting by columns keeps every sum in one thread.
#pragma omp parallel for schedule(static)
  for (std::int64_t block = 0; block < block_count(dim, kColumnBlock); ++block) {
    const std::int64_t begin = block * kColumnBlock;
    const std::int64_t end = std::min(dim, begin + kColumnBlock);
    for (std::int64_t i = 0; i < n; ++i) {
      T* row = dtable + ids[i] * dim;
      const T* grad = dout + i * dim;
      for (std::int64_t c = begin; c < end; ++c) row[c] += grad[c];
    }
  }
}

template void embedding_forward<float>(const std::int32_t*, std::int64_t, const float*, std::int64_t, std::int64_t,
                                       float*);
template void embedding_forward<double>(const std::int32_t*, std::int64_t, const double*, std::int64_t, std::int64_t,
                                        double*);
template void embedding_backward<float>(const std::int32_t*, std::int64_t, const float*, std::int64_t, std::int64_t,
                                        float*);
template void embedding_backward<double>(const std::int32_t*, std::int64_t, const double*, std::int64_t, std::int64_t,
                                         double*);

}  // namespace diverge::cpu
