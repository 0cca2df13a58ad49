/* A tiny C file for the corpus builder's tests. */
#include <stdio.h>

int main(void) {
  puts("hello");
  return 0;
}
