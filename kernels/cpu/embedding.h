// CPU embedding lookup: forward gathers table rows by token id, backward scatter-adds into the table's gradient.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// out (n, dim) = table (vocab, dim) [ids (n)]; throws Error on an id outside [0, vocab).
template <class T>
void embedding_forward(const std::int32_t* ids, std::int64_t n, const T* table, std::int64_t vocab, std::int64_t dim,
                       T* out);

// dtable (vocab, dim) += scatter of dout (n, dim) by ids (n).
template <class T>
void embedding_backward(const std::int32_t* ids, std::int64_t n, const T* dout, std::int64_t vocab, std::int64_t dim,
                        T* dtable);

}  // namespace diverge::cpu
