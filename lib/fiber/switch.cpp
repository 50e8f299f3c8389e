#include "fiber/switch.hpp"

#include <cxxabi.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_HAVE_VALGRIND 1
#endif

namespace weft::detail {

void register_stack_with_valgrind(const Stack& s) noexcept {
#if WEFT_HAVE_VALGRIND
  (void)VALGRIND_STACK_REGISTER(s.lo, s.hi());
#else
  (void)s;
#endif
}

EhGlobals* thread_eh_globals() noexcept {
  // libstdc++ and libc++abi both lay __cxa_eh_globals out as {caughtExceptions, uncaughtExceptions}
  // (ARM EHABI adds a third field after them, which we do not touch).
  return reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals());
}

}  // namespace weft::detail
