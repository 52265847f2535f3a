/*
 * objective.c: parsing objective specs, and the objective value and backward
 * seeds from an engine's plain CHW outputs.
 *
 * For layer k with weight w_k, selected channels S (all when none given),
 * H x W positions and n = |S| * H * W selected elements:
 *   MEAN    value += w_k / n * sum_{S} a           seed = w_k / n on S, 0 elsewhere
 *   SQUARE  value += w_k / n * sum_{S} a^2         seed = 2 a w_k / n on S
 *   GUIDE   at each position p, x = a[S, p]; j = argmax_j <x, g_j[S]>;
 *           value += w_k / (H W) * sum_p <x, g_j[S]>   seed[S, p] = g_j[S] * w_k / (H W)
 * Sums run in double, in a fixed order, so the value is deterministic.
 */
#include "gigadream/objective.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
    [GD_OBJ_MEAN] = "mean",
    [GD_OBJ_SQUARE] = "square",
    [GD_OBJ_GUIDE] = "guide",
};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == GD_OBJ_COUNT,
               "name every gd_obj_kind");

const char *gd_obj_kind_name(gd_obj_kind k)
{
    return (unsigned)k < GD_OBJ_COUNT ? kind_names[k] : "?";
}

gd_obj_kind gd_obj_kind_from_name(const char *s)
{
    for (int k = 0; k < GD_OBJ_COUNT; k++)
        if (s && strcmp(kind_names[k], s) == 0)
            return (gd_obj_kind)k;
    return GD_OBJ_COUNT;
}

void gd_objective_free(gd_objective *obj)
{
    if (!obj)
        return;
    free(obj->channels);
    for (int k = 0; k < GD_OBJ_MAX_LAYERS; k++)
        free(obj->guide[k]);
    memset(obj, 0, sizeof *obj);
}

/* Copies s[0..len) into buf without surrounding blanks. */
static void trimmed(const char *s, size_t len, char *buf, size_t cap)
{
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
}

static int node_named(const gd_model *m, const char *name)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0)
            return i;
    return -1;
}

/* One "name" or "name:weight" item. */
static gd_status parse_layer(const gd_model *m, const char *item, gd_objective *obj, gd_err *err)
{
    char name[GD_NAME_MAX + 64];
    float weight = 1.0f;
    snprintf(name, sizeof name, "%s", item);
    char *colon = strrchr(name, ':');
    /* A name that itself holds ':' (TF tensor names can) is taken whole. */
    if (colon && node_named(m, name) < 0) {
        char wtext[64];
        trimmed(colon + 1, strlen(colon + 1), wtext, sizeof wtext);
        *colon = '\0';
        trimmed(name, strlen(name), name, sizeof name);
        errno = 0;
        char *end;
        double v = strtod(wtext, &end);
        if (wtext[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v))
            return gd_err_set(err, GD_EINPUT,
                              "layer '%s': bad weight '%s' (a number, as in "
                              "'%s:0.5')",
                              name, wtext, name);
        weight = (float)v;
    }
    if (name[0] == '\0')
        return gd_err_set(err, GD_EINPUT, "layer list item '%s' has no layer name", item);
    if (obj->n_layers == GD_OBJ_MAX_LAYERS)
        return gd_err_set(err, GD_EINPUT, "layer '%s': at most %d layers", name, GD_OBJ_MAX_LAYERS);
    int index;
    gd_status st = gd_model_find(m, name, &index, err);
    if (st != GD_OK)
        return st;
    if (index == 0)
        return gd_err_set(err, GD_EINPUT, "layer '%s' is the model's input, not a layer", name);
    obj->layers[obj->n_layers] = index;
    obj->weights[obj->n_layers] = weight;
    obj->n_layers++;
    return GD_OK;
}

static gd_status parse_layers(const gd_model *m, const char *spec, gd_objective *obj, gd_err *err)
{
    if (!spec)
        return gd_err_set(err, GD_EINPUT, "no layer given");
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[GD_NAME_MAX + 64];
        trimmed(p, len, item, sizeof item);
        if (item[0] == '\0')
            return gd_err_set(err, GD_EINPUT, "layer list '%s' has an empty item", spec);
        gd_status st = parse_layer(m, item, obj, err);
        if (st != GD_OK)
            return st;
        if (!comma)
            return GD_OK;
        p = comma + 1;
    }
}

static gd_status parse_channels(const gd_model *m, const char *spec, gd_objective *obj, gd_err *err)
{
    gd_status st = GD_OK;
    gd_shape *shapes = NULL;
    char item[64];
    trimmed(spec, strlen(spec), item, sizeof item);
    if (item[0] == '\0')
        return GD_OK; /* all channels */
    int cap = 1;
    for (const char *q = spec; *q; q++)
        cap += *q == ',';
    obj->channels = gd_calloc((size_t)cap, sizeof *obj->channels, "channel list", err);
    shapes = gd_calloc((size_t)m->n_nodes, sizeof *shapes, "channel list", err);
    if (!obj->channels || !shapes) {
        st = GD_ENOMEM;
        goto done;
    }
    /* Channel counts do not depend on the input size: use the native one. */
    st = gd_model_shapes(m, m->in_h, m->in_w, shapes, err);
    if (st != GD_OK)
        goto done;
    for (const char *p = spec;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        trimmed(p, len, item, sizeof item);
        char *end;
        errno = 0;
        long c = strtol(item, &end, 10);
        if (item[0] == '\0' || *end != '\0' || errno == ERANGE || c < 0 || c > 1000000000L) {
            st = gd_err_set(err, GD_EINPUT,
                            "channel list '%s': bad channel '%s' (a channel "
                            "index >= 0)",
                            spec, item);
            goto done;
        }
        for (int k = 0; k < obj->n_layers; k++) {
            int node = obj->layers[k];
            if (c >= shapes[node].c) {
                st = gd_err_set(err, GD_EINPUT,
                                "channel %ld is out of range for layer '%s' "
                                "(%d channels: 0 to %d)",
                                c, m->nodes[node].name, shapes[node].c, shapes[node].c - 1);
                goto done;
            }
        }
        int dup = 0;
        for (int q = 0; q < obj->n_channels; q++)
            dup |= obj->channels[q] == (int)c;
        if (!dup) /* listing a channel twice selects it once */
            obj->channels[obj->n_channels++] = (int)c;
        if (!comma)
            break;
        p = comma + 1;
    }
done:
    free(shapes);
    return st;
}

gd_status gd_objective_parse(const gd_model *m, gd_obj_kind kind, const char *layers,
                             const char *channels, gd_objective *obj, gd_err *err)
{
    memset(obj, 0, sizeof *obj);
    if ((unsigned)kind >= GD_OBJ_COUNT)
        return gd_err_set(err, GD_EINPUT, "unknown objective kind %d", (int)kind);
    obj->kind = kind;
    gd_status st = parse_layers(m, layers, obj, err);
    if (st == GD_OK && channels)
        st = parse_channels(m, channels, obj, err);
    if (st != GD_OK)
        gd_objective_free(obj);
    return st;
}

/* Whether channel c is in the objective's selection (all when none listed). */
static int selected(const gd_objective *obj, int c)
{
    if (obj->n_channels == 0)
        return 1;
    for (int k = 0; k < obj->n_channels; k++)
        if (obj->channels[k] == c)
            return 1;
    return 0;
}

/* Sum of a[0..n) (of squares with square), in double, in a fixed order:
 * eight running sums, so the adds do not wait on each other. */
static double plane_sum(const float *a, size_t n, int square)
{
    double acc[8] = {0};
    size_t p = 0;
    for (; p + 8 <= n; p += 8)
        for (int k = 0; k < 8; k++) {
            double v = a[p + k];
            acc[k] += square ? v * v : v;
        }
    double sum = 0.0;
    for (; p < n; p++) {
        double v = a[p];
        sum += square ? v * v : v;
    }
    for (int k = 0; k < 8; k++)
        sum += acc[k];
    return sum;
}

#define SEED_GROUP 64 /* channels summed in parallel, then added in channel order */

static double seed_mean_square(const gd_objective *obj, float w, gd_shape s, const float *a,
                               float *seed)
{
    size_t plane = (size_t)s.h * s.w;
    int n_sel = obj->n_channels ? obj->n_channels : s.c;
    double inv = 1.0 / ((double)n_sel * (double)plane), sum = 0.0;
    int square = obj->kind == GD_OBJ_SQUARE;
    /* Channel sums in parallel, added in channel order: the value does not
     * depend on the thread count. */
    for (int c0 = 0; c0 < s.c; c0 += SEED_GROUP) {
        const int nc = s.c - c0 < SEED_GROUP ? s.c - c0 : SEED_GROUP;
        double part[SEED_GROUP];
#pragma omp parallel for schedule(static)
        for (int q = 0; q < nc; q++) {
            const int c = c0 + q;
            const float *ac = a + c * plane;
            float *sc = seed ? seed + c * plane : NULL;
            part[q] = 0.0;
            if (!selected(obj, c)) {
                if (sc)
                    memset(sc, 0, plane * sizeof *sc);
                continue;
            }
            part[q] = plane_sum(ac, plane, square);
            if (!sc)
                continue;
            if (square)
                for (size_t p = 0; p < plane; p++)
                    sc[p] = (float)(2.0 * ac[p] * w * inv);
            else
                for (size_t p = 0; p < plane; p++)
                    sc[p] = (float)(w * inv);
        }
        for (int q = 0; q < nc; q++)
            sum += part[q];
    }
    return w * sum * inv;
}

static double seed_guide(const gd_objective *obj, int k, gd_shape s, const float *a, float *seed)
{
    const float *guide = obj->guide[k];
    const int n_guide = obj->n_guide[k], all = obj->n_channels == 0;
    const int n_sel = all ? s.c : obj->n_channels;
    const int *chan = obj->channels;
    size_t plane = (size_t)s.h * s.w;
    double scale = (double)obj->weights[k] / (double)plane;
    if (!all)
        memset(seed, 0, (size_t)s.c * plane * sizeof *seed);
        /* Positions are independent: search them in parallel, sum in order after. */
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < plane; p++) {
        int best = 0;
        double best_dot = -INFINITY;
        for (int j = 0; j < n_guide; j++) {
            const float *g = guide + (size_t)j * s.c;
            double dot = 0.0;
            for (int q = 0; q < n_sel; q++) {
                int c = all ? q : chan[q];
                dot += (double)a[c * plane + p] * g[c];
            }
            if (dot > best_dot) {
                best_dot = dot;
                best = j;
            }
        }
        const float *g = guide + (size_t)best * s.c;
        for (int q = 0; q < n_sel; q++) {
            int c = all ? q : chan[q];
            seed[c * plane + p] = (float)(g[c] * scale);
        }
    }
    double sum = 0.0;
    for (int c = 0; c < s.c; c++)
        for (size_t p = 0; p < plane; p++)
            sum += (double)a[c * plane + p] * seed[c * plane + p];
    return sum;
}

gd_status gd_objective_seed(const gd_objective *obj, gd_engine *e, double *value, gd_err *err)
{
    double total = 0.0;
    if (value)
        *value = 0.0;
    if (gd_engine_n_outputs(e) != obj->n_layers)
        return gd_err_set(err, GD_EINPUT, "objective: %d layers, but the engine has %d outputs",
                          obj->n_layers, gd_engine_n_outputs(e));
    for (int k = 0; k < obj->n_layers; k++) {
        gd_shape s;
        gd_engine_output(e, k, &s);
        if (gd_engine_output_node(e, k) != obj->layers[k])
            return gd_err_set(err, GD_EINPUT,
                              "objective: layer %d is node %d, but engine output "
                              "%d is node %d",
                              k, obj->layers[k], k, gd_engine_output_node(e, k));
        for (int q = 0; q < obj->n_channels; q++)
            if (obj->channels[q] >= s.c)
                return gd_err_set(err, GD_EINPUT,
                                  "objective: channel %d is out of range for "
                                  "layer %d (%d channels)",
                                  obj->channels[q], k, s.c);
        if (obj->kind == GD_OBJ_GUIDE && (!obj->guide[k] || obj->n_guide[k] < 1))
            return gd_err_set(err, GD_EINPUT, "objective: guide features for layer %d are not set",
                              k);
        if (obj->kind == GD_OBJ_GUIDE && !gd_engine_seed(e, k))
            return gd_err_set(err, GD_EINPUT, "objective: a guide needs an engine with backward");
    }
    for (int k = 0; k < obj->n_layers; k++) {
        gd_shape s;
        const float *a = gd_engine_output(e, k, &s);
        float *seed = gd_engine_seed(e, k);
        if (obj->kind == GD_OBJ_GUIDE)
            total += seed_guide(obj, k, s, a, seed);
        else
            total += seed_mean_square(obj, obj->weights[k], s, a, seed);
    }
    if (value)
        *value = total;
    return GD_OK;
}

gd_status gd_objective_gradient(const gd_objective *obj, gd_engine *e, const float *pixels,
                                float *grad, double *value, gd_err *err)
{
    gd_status st = gd_engine_forward(e, pixels, err);
    if (st == GD_OK)
        st = gd_objective_seed(obj, e, value, err);
    if (st == GD_OK)
        st = gd_engine_backward(e, grad, err);
    return st;
}
