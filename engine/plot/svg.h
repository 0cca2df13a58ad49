// A minimal SVG document builder: escaped text and attributes, compact numbers, balanced elements.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace diverge::plot {

// Escapes the five XML special characters so any text (labels, run names, file names) is safe in text and
// attribute values; control characters XML cannot hold (all below 0x20 but tab, newline, return) become '?'.
std::string escape_xml(std::string_view text);

// A coordinate or size as short text: at most two decimals, no trailing zeros, never "-0". Throws Error on NaN or
// infinity so that a charting bug cannot write "nan" into a document.
std::string format_number(double value);

// The rough width of a text in pixels at a font size, for layout: SVG has no text metrics before rendering, and
// a sans-serif glyph averages about 0.6 em. Counts UTF-8 code points, not bytes.
double approximate_text_width(std::string_view text, double font_size);

// One attribute; numbers go through format_number, text through escape_xml. The name is a string literal.
struct Attr {
  Attr(std::string_view attr_name, double number);
  Attr(std::string_view attr_name, std::string_view text);
  Attr(std::string_view attr_name, const char* text) : Attr(attr_name, std::string_view(text)) {}
  std::string_view name;
  std::string value;  // already escaped
};
using Attrs = std::initializer_list<Attr>;

// Path data ("M x,y L x,y ...") built point by point; a move starts a new sub-path so gaps stay gaps.
class PathData {
 public:
  void move_to(double x, double y);
  void line_to(double x, double y);
  bool empty() const { return data_.empty(); }
  const std::string& str() const { return data_; }

 private:
  void point(char command, double x, double y);
  std::string data_;
};

// Writes one SVG document. Elements opened with open() are closed by close() or by finish(), so the output is
// always balanced.
class SvgDocument {
 public:
  SvgDocument(double width, double height);

  void open(std::string_view tag, Attrs attrs = {});
  void close();
  void element(std::string_view tag, Attrs attrs);
  void text_element(std::string_view tag, Attrs attrs, std::string_view text);
  // A <style> sheet; its text is CSS, written inside CDATA so that selectors such as "a > b" stay valid XML.
  void style(std::string_view css);

  double width() const { return width_; }
  double height() const { return height_; }
  // Closes every open element and returns the document.
  std::string finish();

 private:
  void start_tag(std::string_view tag, Attrs attrs);
  void indent();
  double width_;
  double height_;
  std::string out_;
  std::vector<std::string> open_tags_;
};

}  // namespace diverge::plot
