// The strict JSON reader's consumer that builds the parsed value (nlohmann::json or ordered_json) from its events.
#pragma once

#include <utility>
#include <vector>

namespace diverge {

template <class BasicJson>
class JsonTree {
 public:
  void null() { place(BasicJson(nullptr)); }
  void boolean(bool v) { place(BasicJson(v)); }
  void number_integer(typename BasicJson::number_integer_t v) { place(BasicJson(v)); }
  void number_unsigned(typename BasicJson::number_unsigned_t v) { place(BasicJson(v)); }
  void number_float(typename BasicJson::number_float_t v) { place(BasicJson(v)); }
  void string(typename BasicJson::string_t& v) { place(BasicJson(std::move(v))); }

  void start_object() { open_.push_back(place(BasicJson::object())); }
  // The key's slot is made now and filled by the next value; an object that has the key already refuses it.
  bool key(typename BasicJson::string_t& k) {
    auto& members = open_.back()->template get_ref<typename BasicJson::object_t&>();
    const auto [slot, added] = members.emplace(std::move(k), BasicJson());
    slot_ = &slot->second;
    return added;
  }
  void end_object() { open_.pop_back(); }
  void start_array() { open_.push_back(place(BasicJson::array())); }
  void end_array() { open_.pop_back(); }

  BasicJson take() && { return std::move(root_); }

 private:
  // Puts v where the document has it and returns its address. Open containers never move: a parent grows only
  // after its open child has closed.
  BasicJson* place(BasicJson&& v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    BasicJson& parent = *open_.back();
    if (parent.is_array()) {
      auto& elements = parent.template get_ref<typename BasicJson::array_t&>();
      elements.push_back(std::move(v));
      return &elements.back();
    }
    *slot_ = std::move(v);
    return slot_;
  }

  BasicJson root_;
  std::vector<BasicJson*> open_;  // open objects and arrays, outermost first
  BasicJson* slot_ = nullptr;     // the value of the innermost object's current key
};

}  // namespace diverge
