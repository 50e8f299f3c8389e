// weft_jump_fcontext (x86-64 ELF): see jump.hpp for why it exists.
//
//   caller:  call weft_jump_fcontext      pushes R (the return into switch_context's caller)
//   here:    push label 1; jmp jump_fcontext
//            jump_fcontext saves the context below label 1 and resumes the other side with
//            `jmp *%r8` to *its* label 1, having popped that label
//   label 1: ret                          returns to the other side's R; the predictor's top
//                                         entry is our caller's R, the same call site
//
// A resumed context's stack therefore reads: ctx+0x38 label 1, ctx+0x40 R (fcontext_layout.hpp).
// CFI: between the push and the switch the CFA is rsp+16; at label 1 it is rsp+8 again.
#include "platform/jump.hpp"

#if WEFT_BALANCED_JUMP
asm(R"(
  .text
  .p2align 4
  .globl weft_jump_fcontext
  .hidden weft_jump_fcontext
  .type weft_jump_fcontext, @function
weft_jump_fcontext:
  .cfi_startproc
  leaq 1f(%rip), %rax
  pushq %rax
  .cfi_adjust_cfa_offset 8
  jmp *jump_fcontext@GOTPCREL(%rip)
1:
  .cfi_adjust_cfa_offset -8
  ret
  .cfi_endproc
  .size weft_jump_fcontext, .-weft_jump_fcontext
)");
#endif
