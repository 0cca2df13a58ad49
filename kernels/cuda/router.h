// CUDA MoE router in fp32: softmax over the experts, top-k choice on the logits, gates, and the backward into logits
// with the auxiliary losses' gradients; the forced-balance assignment.
#pragma once

#include <cstdint>

#include "kernels/router_sums.h"

namespace diverge::cuda {

// probs (rows, experts) = softmax(logits (rows, experts)); topk (rows, top_k) = the top_k largest logits, largest
// first, equal logits to the lower index (the most probable experts, chosen exactly as the CPU reference chooses
// them); gates (rows, top_k) = their probabilities, divided by their sum when renormalize. The sums, where not null:
// each chunk's column sums of probs in fp32, rows in order, and each row's logsumexp (row_logsumexp's bits).
void router_forward(const float* logits, std::int64_t rows, std::int64_t experts, std::int64_t top_k,
                    bool renormalize, float* probs, std::int32_t* topk, float* gates, RouterSumPtrs<float> sums);

// dlogits (rows, experts) from, each unless null: dgates (rows, top_k) (null: the gates do not depend on the logits),
// dprobs (rows, experts), and the auxiliary losses' gradients; one kernel, overwriting or, when accumulate, adding
// to dlogits. A row's experts in topk are distinct, as router_forward writes them; with dgates, a row naming an
// expert outside [0, experts) gets NaN gradients, which the training step's non-finite check stops on.
void router_backward(const float* probs, const std::int32_t* topk, const float* gates, const float* dgates,
                     const float* dprobs, RouterAuxGradPtrs<float> aux, std::int64_t rows, std::int64_t experts,
                     std::int64_t top_k, bool renormalize, bool accumulate, float* dlogits);

// Forced balance (benchmarks): topk (rows, top_k) [t][j] = (t * top_k + j) mod experts, gates 1 / top_k, as the
// CPU's balanced_routing.
void balanced_routing(std::int64_t rows, std::int64_t experts, std::int64_t top_k, std::int32_t* topk, float* gates);

}  // namespace diverge::cuda
