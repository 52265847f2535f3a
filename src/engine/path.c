/*
 * path.c: the kernel path a process runs (engine.h: which ISA oneDNN
 * dispatches to, whether the own kernels run and on which table, which
 * precision), and the ISA level ranks agree on before any engine exists.
 *
 * The level comes from the CPU's features (and ONEDNN_MAX_CPU_ISA or
 * DNNL_MAX_CPU_ISA, which lower it) without asking oneDNN: oneDNN fixes its
 * ISA the first time anyone asks for it, after which dnnl_set_max_cpu_isa
 * fails, and the ranks must be able to lower it once they know each
 * other's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "gigadream/error.h"

/* The levels, their oneDNN ISA, and the env var names that cap at them. */
static const struct level {
    dnnl_cpu_isa_t isa;
    const char *names[3];
} levels[] = {
    {dnnl_cpu_isa_sse41, {"SSE41", "AVX", NULL}},
    {dnnl_cpu_isa_avx2, {"AVX2", "AVX2_VNNI", NULL}},
    {dnnl_cpu_isa_avx512_core, {"AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_MIC"}},
    {dnnl_cpu_isa_avx512_core_bf16, {"AVX512_CORE_BF16", "AVX512_CORE_AMX", "ALL"}},
};
#define TOP ((int)(sizeof levels / sizeof levels[0]) - 1)

/* The level the CPU's features reach, TOP off x86-64 (oneDNN decides there). */
static int cpu_level(void)
{
#if defined(__x86_64__)
    const int core = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                     __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                     __builtin_cpu_supports("avx512cd");
    if (core && __builtin_cpu_supports("avx512bf16"))
        return 3;
    if (core)
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 1;
    return 0;
#else
    return TOP;
#endif
}

/* The level an ONEDNN_MAX_CPU_ISA value caps at (TOP for a name not listed). */
static int env_level(const char *v)
{
    for (int l = 0; l <= TOP; l++)
        for (int k = 0; k < 3 && levels[l].names[k]; k++)
            if (strcmp(v, levels[l].names[k]) == 0)
                return l;
    return TOP;
}

int gd_engine_isa_level(void)
{
    int level = cpu_level();
    const char *names[2] = {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"};
    for (int k = 0; k < 2; k++) {
        const char *v = getenv(names[k]);
        if (v && *v) {
            const int cap = env_level(v);
            level = cap < level ? cap : level;
            break;
        }
    }
    return level;
}

gd_status gd_engine_cap_isa(int level, gd_err *err)
{
    if (level < 0 || level > TOP)
        return gd_err_set(err, GD_EINPUT, "engine: no ISA level %d", level);
    if (dnnl_set_max_cpu_isa(levels[level].isa) != dnnl_success)
        return gd_err_set(err, GD_ELIB,
                          "engine: oneDNN's ISA is already fixed, cannot lower it to level %d "
                          "(internal: the ranks' ISA must be agreed before any engine exists)",
                          level);
    return GD_OK;
}

/* oneDNN's ISA names, best first (the values are nested bit sets). */
static const char *isa_name(dnnl_cpu_isa_t isa)
{
    static const struct {
        dnnl_cpu_isa_t isa;
        const char *name;
    } names[] = {
        {dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
        {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
        {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
        {dnnl_cpu_isa_avx512_core, "avx512_core"},
        {dnnl_cpu_isa_avx512_mic, "avx512_mic"},
        {dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
        {dnnl_cpu_isa_avx2, "avx2"},
        {dnnl_cpu_isa_avx, "avx"},
        {dnnl_cpu_isa_sse41, "sse41"},
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (isa != dnnl_cpu_isa_all && (isa & names[k].isa) == names[k].isa)
            return names[k].name;
    return "any";
}

void gd_engine_path(gd_engine_precision p, char *buf, size_t len)
{
    /* The own kernels' table for precision p: "AVX-512 BF16" names the bf16
     * one, so a bf16 job on its own kernels and one on oneDNN's differ. */
    const eng_kernels *k = eng_kernels_for_cpu(p);
    snprintf(buf, len, "%s/%s/%s", isa_name(dnnl_get_effective_cpu_isa()), k ? k->isa : "onednn",
             gd_engine_precision_name(p));
}
