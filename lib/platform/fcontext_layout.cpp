#include "platform/fcontext_layout.hpp"

#include <boost/context/detail/fcontext.hpp>

#include <ucontext.h>

#include <cstdint>
#include <cstring>

namespace weft::detail::platform {

namespace {
bool check_layout() noexcept {
  namespace fctx = boost::context::detail;
#if defined(__x86_64__) && defined(__linux__)
  const auto* code = reinterpret_cast<const unsigned char*>(&fctx::jump_fcontext);
  static const unsigned char lea[] = {0x48, 0x8d, 0x64, 0x24, 0xc8};           // lea -0x38(%rsp),%rsp
  static const unsigned char save_rbp[] = {0x48, 0x89, 0x6c, 0x24, 0x30};      // mov %rbp,0x30(%rsp)
  static const unsigned char load_pc[] = {0x4c, 0x8b, 0x44, 0x24, 0x38};       // mov 0x38(%rsp),%r8
  // Follow a PLT-style indirect jump (jmp *disp(%rip)) if the address is a stub.
  if (code[0] == 0xff && code[1] == 0x25) {
    std::int32_t disp;
    std::memcpy(&disp, code + 2, 4);
    code = *reinterpret_cast<const unsigned char* const*>(code + 6 + disp);
  }
  if (code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa) code += 4;  // endbr64
  return std::memcmp(code, lea, 5) == 0 && std::memcmp(code + 38, save_rbp, 5) == 0 &&
         std::memcmp(code + 49, load_pc, 5) == 0;
#elif defined(__aarch64__) && defined(__linux__)
  const auto* code = reinterpret_cast<const unsigned char*>(&fctx::jump_fcontext);
  auto insn = [code](std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, code + at, 4);
    return v;
  };
  return insn(0x00) == 0xd102c3ffu &&  // sub sp, sp, #0xb0
         insn(0x28) == 0xa9097bfdu &&  // stp x29, x30, [sp, #144]
         insn(0x2c) == 0xf90053feu;    // str x30, [sp, #160]
#else
  return false;
#endif
}
}  // namespace

bool fcontext_layout_known() noexcept {
  static const bool known = check_layout();
  return known;
}

const void* interrupted_pc(const void* uc) noexcept {
#if defined(__x86_64__) && defined(__linux__)
  return reinterpret_cast<const void*>(static_cast<const ucontext_t*>(uc)->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__) && defined(__linux__)
  return reinterpret_cast<const void*>(static_cast<const ucontext_t*>(uc)->uc_mcontext.pc);
#else
  (void)uc;
  return nullptr;
#endif
}

}  // namespace weft::detail::platform
