// A minimal XML reader for tests: checks that a document is well formed and gives its elements to query.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diverge::test {

struct XmlElement {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;  // values with entities resolved
  std::vector<XmlElement> children;
  std::string text;  // character data directly inside, entities resolved, CDATA included

  // The attribute's value, or nullptr when the element lacks it.
  const std::string* attribute(std::string_view attr_name) const;
};

// Parses a whole document: optional declaration, comments, one root element. Throws std::runtime_error naming
// the byte offset and the problem when the document is not well formed: unbalanced or mismatched tags, unquoted
// or repeated attributes, '<' or a bare '&' in text or attribute values, anything but one root element.
XmlElement parse_xml(std::string_view document);

// Every element below and including root (depth first) with the given tag name and, when css_class is not empty,
// with that class among its class attribute's words.
std::vector<const XmlElement*> find_elements(const XmlElement& root, std::string_view name,
                                             std::string_view css_class = "");

}  // namespace diverge::test
