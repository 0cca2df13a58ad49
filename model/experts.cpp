// Routed experts: the grouped expert_ffn op with its saved activations and workspace.
#include "model/experts.h"

namespace diverge::model {

ExpertActs allocate_experts(Buffers& buffers, const Dims& d) {
  const std::int64_t rows = d.expert_rows;
  ExpertActs a;
  a.saved = {buffers.act({rows, d.expert_hidden}), buffers.act({rows, d.expert_hidden}),
             buffers.act({rows, d.expert_hidden})};
  a.out = buffers.act({rows, d.model});
  return a;
}

ExpertScratch allocate_expert_scratch(Buffers& buffers, const Dims& d) {
  const std::int64_t rows = d.expert_rows;
  return {buffers.act({rows, d.model}), buffers.act({rows, d.model}), buffers.act({rows, d.expert_hidden}),
          buffers.act({rows, d.expert_hidden})};
}

ExpertActs first_rows(const ExpertActs& acts, std::int64_t rows) {
  return {{acts.saved.gate.slice_rows(0, rows), acts.saved.up.slice_rows(0, rows),
           acts.saved.hidden.slice_rows(0, rows)},
          acts.out.slice_rows(0, rows)};
}

ExpertScratch first_rows(const ExpertScratch& scratch, std::int64_t rows) {
  return {scratch.dout.slice_rows(0, rows), scratch.dgrouped.slice_rows(0, rows),
          scratch.dgate_work.slice_rows(0, rows), scratch.dup_work.slice_rows(0, rows)};
}

void experts_forward(const ops::ExpertInput& rows, const Tensor& offsets, const ops::ExpertWeights& w,
                     const ExpertActs& acts) {
  ops::expert_ffn(rows, offsets, w, acts.saved, acts.out);
}

void experts_backward(const ops::ExpertInput& rows, const Tensor& offsets, const ops::ExpertWeights& w,
                      const ops::ExpertWeights& dw, const ExpertActs& acts, const ExpertScratch& scratch) {
  ops::expert_ffn_backward(scratch.dout, rows, offsets, w, acts.saved, scratch.dgrouped, dw, scratch.dgate_work,
                           scratch.dup_work);
}

}  // namespace diverge::model
