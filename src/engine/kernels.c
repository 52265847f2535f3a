/*
 * kernels.c: which table of hand-written kernels an engine runs
 * (kernels_int.h), chosen once, when the engine is created, from what this
 * CPU can do.  Nothing here executes an ISA-specific instruction: it only
 * hands out a table whose functions the steps then call.
 *
 * A table is chosen where oneDNN itself may use its ISA: oneDNN's
 * effective ISA, which ONEDNN_MAX_CPU_ISA lowers, so one setting turns
 * every fast path off at once, and our kernels never run vectors oneDNN
 * would not.  Where no table fits (another CPU, another architecture, or
 * gd_engine_opts.onednn_only), the engine gets none and runs every layer
 * on oneDNN.
 *
 * Every table is the same source (simd/), compiled by CMake once per ISA
 * of the architecture with that ISA's flags; CMake defines GD_ENGINE_<ISA>
 * for this file for each table it built.  A new ISA joins the list below
 * after the tables it should lose to.
 */
#include "engine_int.h"

/* The tables CMake built for this architecture, best first, each with the
 * oneDNN ISA it needs; the empty entry ends the list.  f32 engines: */
static const struct candidate {
    const eng_kernels *kern;
    dnnl_cpu_isa_t needs;
} candidates[] = {
#ifdef GD_ENGINE_AVX512
    {&eng_kernels_avx512, dnnl_cpu_isa_avx512_core},
#endif
#ifdef GD_ENGINE_AVX2
    {&eng_kernels_avx2, dnnl_cpu_isa_avx2},
#endif
#ifdef GD_ENGINE_NEON
    /* oneDNN names no Arm ISA here: NEON is AArch64's base. */
    {&eng_kernels_neon, dnnl_cpu_isa_all},
#endif
    {NULL, dnnl_cpu_isa_all},
};

/* bf16 engines: a table whose tensors are bf16 (kernels_int.h), only where
 * oneDNN runs bf16 natively (engine.c refuses bf16 elsewhere). */
static const struct candidate candidates_bf16[] = {
#ifdef GD_ENGINE_AVX512BF16
    {&eng_kernels_avx512bf16, dnnl_cpu_isa_avx512_core_bf16},
#endif
    {NULL, dnnl_cpu_isa_all},
};

/* Whether every kernel of k is set: a step would call through a hole.  A
 * table with one is never chosen (test_engine_own then fails, missing the
 * own layers it expects on a CPU that has the ISA). */
static int complete(const eng_kernels *k)
{
    return k->isa && k->cblk && k->mask && k->pw_fwd && k->pw_fwd_row && k->pw_bwd &&
           k->pw_bwd_row && k->dw_fwd_row && k->dw_bwd_row && k->dw1_fwd_row && k->dw1_bwd_row &&
           k->stem_fwd_row && k->stem_bwd_row;
}

/* Whether the CPU has what oneDNN's ISA name does not promise: FMA with
 * AVX2 (every AVX2 CPU made so far has it, but oneDNN checks AVX2 only). */
static int extras(const eng_kernels *k)
{
#if defined(GD_ENGINE_AVX2)
    if (k == &eng_kernels_avx2)
        return __builtin_cpu_supports("fma");
#endif
#if defined(GD_ENGINE_AVX512BF16)
    if (k == &eng_kernels_avx512bf16)
        return __builtin_cpu_supports("avx512bf16");
#endif
    (void)k;
    return 1;
}

const eng_kernels *eng_kernels_for_cpu(gd_engine_precision p)
{
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    const struct candidate *list = NULL;
    switch (p) {
    case GD_ENGINE_F32:
        list = candidates;
        break;
    case GD_ENGINE_BF16:
        list = candidates_bf16;
        break;
    case GD_ENGINE_PRECISION_COUNT:
        return NULL;
    }
    for (const struct candidate *c = list; c && c->kern; c++)
        if ((isa & c->needs) == c->needs && complete(c->kern) && extras(c->kern) &&
            c->kern->bf16 == (p == GD_ENGINE_BF16))
            return c->kern;
    return NULL;
}
