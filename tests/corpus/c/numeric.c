/* Floating point in C, with results Python can reproduce bit for bit: clang
 * does not reassociate without -ffast-math, and contraction of a * b + c into
 * a fused multiply-add is turned off below (wasm has no fma instruction, but
 * clang's optimizer would still fold constant expressions as fused ones), so
 * every operation rounds as Python's does:
 *   nbody(steps)          the Computer Language Benchmarks Game's n-body
 *                         simulation (five planets, f64, sqrt); writes the
 *                         energy before and after and the final positions;
 *   mandel(n, iters)      escape counts of an n x n grid in f32, summed;
 *   convert(x)            casts of an f64 (|x| < 2^31) to every integer type
 *                         and back (C leaves out-of-range casts undefined);
 *   convert_wide(x)       the same for 64-bit integers (|x| < 2^63);
 *   horner(n, x)          a polynomial with n integer coefficients at x, in f64. */
#include "corpus.h"

#pragma STDC FP_CONTRACT OFF

#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS_PER_YEAR 365.24

typedef struct {
    double x, y, z, vx, vy, vz, mass;
} body;

static body BODIES[5];

static void init_bodies(void) {
    static const double init[5][7] = {
        {0, 0, 0, 0, 0, 0, SOLAR_MASS},
        {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
         1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
         -6.90460016972063023e-05 * DAYS_PER_YEAR, 9.54791938424326609e-04 * SOLAR_MASS},
        {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
         -2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
         2.30417297573763929e-05 * DAYS_PER_YEAR, 2.85885980666130812e-04 * SOLAR_MASS},
        {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
         2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
         -2.96589568540237556e-05 * DAYS_PER_YEAR, 4.36624404335156298e-05 * SOLAR_MASS},
        {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
         2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
         -9.51592254519715870e-05 * DAYS_PER_YEAR, 5.15138902046611451e-05 * SOLAR_MASS},
    };
    for (int i = 0; i < 5; i++) {
        body *b = &BODIES[i];
        b->x = init[i][0]; b->y = init[i][1]; b->z = init[i][2];
        b->vx = init[i][3]; b->vy = init[i][4]; b->vz = init[i][5]; b->mass = init[i][6];
    }
    double px = 0, py = 0, pz = 0;
    for (int i = 0; i < 5; i++) {
        px += BODIES[i].vx * BODIES[i].mass;
        py += BODIES[i].vy * BODIES[i].mass;
        pz += BODIES[i].vz * BODIES[i].mass;
    }
    BODIES[0].vx = -px / SOLAR_MASS;
    BODIES[0].vy = -py / SOLAR_MASS;
    BODIES[0].vz = -pz / SOLAR_MASS;
}

static double energy(void) {
    double e = 0;
    for (int i = 0; i < 5; i++) {
        body *b = &BODIES[i];
        e += 0.5 * b->mass * (b->vx * b->vx + b->vy * b->vy + b->vz * b->vz);
        for (int j = i + 1; j < 5; j++) {
            body *c = &BODIES[j];
            double dx = b->x - c->x, dy = b->y - c->y, dz = b->z - c->z;
            e -= b->mass * c->mass / __builtin_sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static void advance(double dt) {
    for (int i = 0; i < 5; i++) {
        body *b = &BODIES[i];
        for (int j = i + 1; j < 5; j++) {
            body *c = &BODIES[j];
            double dx = b->x - c->x, dy = b->y - c->y, dz = b->z - c->z;
            double d2 = dx * dx + dy * dy + dz * dz;
            double mag = dt / (d2 * __builtin_sqrt(d2));
            b->vx -= dx * c->mass * mag; b->vy -= dy * c->mass * mag; b->vz -= dz * c->mass * mag;
            c->vx += dx * b->mass * mag; c->vy += dy * b->mass * mag; c->vz += dz * b->mass * mag;
        }
    }
    for (int i = 0; i < 5; i++) {
        body *b = &BODIES[i];
        b->x += dt * b->vx; b->y += dt * b->vy; b->z += dt * b->vz;
    }
}

/* OUT: energy before, energy after, then x, y, z of each body (17 f64s). */
EXPORT("nbody") void nbody(u32 steps) {
    double *out = (double *)OUT;
    init_bodies();
    out[0] = energy();
    for (u32 i = 0; i < steps; i++) advance(0.01);
    out[1] = energy();
    for (int i = 0; i < 5; i++) {
        out[2 + 3 * i] = BODIES[i].x;
        out[3 + 3 * i] = BODIES[i].y;
        out[4 + 3 * i] = BODIES[i].z;
    }
}

/* Escape counts over [-2, 1] x [-1.5, 1.5] in f32: sum of counts, and a hash of the row sums. */
EXPORT("mandel") u64 mandel(u32 n, u32 iters) {
    u64 total = 0, hash = 0;
    for (u32 py = 0; py < n; py++) {
        u32 row = 0;
        float ci = -1.5f + 3.0f * (float)py / (float)n;
        for (u32 px = 0; px < n; px++) {
            float cr = -2.0f + 3.0f * (float)px / (float)n;
            float zr = 0, zi = 0;
            u32 k = 0;
            while (k < iters && zr * zr + zi * zi <= 4.0f) {
                float t = zr * zr - zi * zi + cr;
                zi = 2.0f * zr * zi + ci;
                zr = t;
                k++;
            }
            row += k;
        }
        total += row;
        hash = hash * 31 + row;
    }
    return total << 32 ^ hash;
}

/* Casts of x (within every target's range for the integer ones); OUT gets nine i64s. */
EXPORT("convert") void convert(double x) {
    i64 *out = (i64 *)OUT;
    out[0] = (i64)(i32)x;
    out[1] = (i64)(u32)(x < 0 ? -x : x);
    out[2] = (i64)x;
    out[3] = (i64)(u64)(x < 0 ? -x : x);
    out[4] = (i64)(i8)(i32)x;
    out[5] = (i64)(u16)(i32)x;
    float f = (float)x;
    i32 f_bits;
    __builtin_memcpy(&f_bits, &f, 4);
    out[6] = f_bits;
    double back = (double)(i64)x + (double)(u64)(x < 0 ? -x : x) + (double)(float)(i32)x;
    __builtin_memcpy(&out[7], &back, 8);
    double widened = (double)f;
    __builtin_memcpy(&out[8], &widened, 8);
}

/* Casts of x, |x| < 2^63, to 64-bit integers and back; OUT gets four i64s. */
EXPORT("convert_wide") void convert_wide(double x) {
    i64 *out = (i64 *)OUT;
    double a = x < 0 ? -x : x;
    out[0] = (i64)x;
    out[1] = (i64)(u64)(a + a); /* up to 2^64 */
    double back = (double)(i64)x, back_u = (double)((u64)(a + a) | 1);
    __builtin_memcpy(&out[2], &back, 8);
    __builtin_memcpy(&out[3], &back_u, 8);
}

/* sum(c[i] * x^i) for the n i64 coefficients at IN, by Horner's rule in f64. */
EXPORT("horner") double horner(u32 n, double x) {
    const i64 *c = (const i64 *)IN;
    double acc = 0;
    for (u32 i = n; i-- > 0;) acc = acc * x + (double)c[i];
    return acc;
}
