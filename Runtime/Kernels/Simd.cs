using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using X86 = System.Runtime.Intrinsics.X86;

namespace Qwen3Gen.Kernels;

/// <summary>
/// The vector operations the kernels need, so that each kernel is written once and instantiated for Vector512,
/// Vector256, Vector128 and plain floats (<see cref="Simd512"/> ... <see cref="Scalar"/>). The implementations are
/// structs: the JIT specialises every generic kernel per struct and inlines these calls, so the generated code is
/// the same as if the kernel were written against Vector512 directly. A kernel is a generic method
/// <c>K&lt;S, TV&gt;(...) where S : struct, ISimd&lt;TV&gt;</c> plus a <c>switch (SimdLevel.Current)</c> that picks
/// the instantiation; the switch folds to one call because <see cref="SimdLevel.Current"/> is a JIT-time constant.
/// Every kernel runs its vector loop, then the same operations one float at a time for the tail, so the result of
/// an element depends only on the data, the length and the vector width, never on threads.
/// </summary>
internal unsafe interface ISimd<TV> where TV : unmanaged
{
    /// <summary>Floats per vector.</summary>
    static abstract int Width { get; }
    static abstract TV Zero { get; }
    static abstract TV Load(float* p);
    static abstract void Store(float* p, TV v);
    static abstract TV Broadcast(float x);
    /// <summary>
    /// a · b + c, rounded once where the hardware has fused multiply-add (x86 FMA3, every ARM64), else multiplied
    /// then added (two roundings; emulating the fused form costs 7× on x86 without FMA3, e.g. DOTNET_EnableAVX2=0).
    /// </summary>
    static abstract TV Fma(TV a, TV b, TV c);
    /// <summary>a · b + c rounded once on every path (emulated where the hardware lacks FMA): for bit-exact formulas (AdamW).</summary>
    static abstract TV FusedMultiplyAdd(TV a, TV b, TV c);
    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Div(TV a, TV b);
    /// <summary>IEEE maximum per lane (a NaN lane gives NaN, as <see cref="MathF.Max"/>).</summary>
    static abstract TV Max(TV a, TV b);
    static abstract TV Sqrt(TV a);
    /// <summary>e^a per lane (.NET's vectorised exp; the scalar path is <see cref="MathF.Exp"/>).</summary>
    static abstract TV Exp(TV a);
    /// <summary>The sum of the lanes, in a fixed order.</summary>
    static abstract float Sum(TV v);
    /// <summary>The largest lane (exact in any order).</summary>
    static abstract float MaxAcross(TV v);
    /// <summary>Loads <see cref="Width"/> bfloat16 values and widens them exactly (bits &lt;&lt; 16).</summary>
    static abstract TV LoadBF16(ushort* p);
    /// <summary>Loads <see cref="Width"/> IEEE half values and widens them exactly (subnormals, infinities and NaN included).</summary>
    static abstract TV LoadF16(ushort* p);
    /// <summary>Loads <see cref="Width"/> signed bytes as floats (exact).</summary>
    static abstract TV LoadInt8(sbyte* p);
}

/// <summary>
/// Σ x² accumulated in double per lane, for sums over millions of floats (gradient norms): a float widened to double
/// squares exactly (24-bit mantissas), so a fused and an unfused x·x + acc give the same bits.
/// </summary>
internal interface ISimdDouble<TV, TD> : ISimd<TV> where TV : unmanaged where TD : unmanaged
{
    static abstract TD ZeroDouble { get; }
    /// <summary>acc + lo² + hi² per double lane, where lo and hi are the lower and upper halves of x widened to double.</summary>
    static abstract TD AddSquares(TV x, TD acc);
    static abstract double SumDouble(TD acc);
}

/// <summary>
/// The widest accelerated vector size, a JIT-time constant (it reads Vector512/256/128.IsHardwareAccelerated,
/// which the JIT folds), so <c>switch (SimdLevel.Current)</c> in a kernel compiles to one direct call.
/// </summary>
internal static class SimdLevel
{
    public const int V512 = 3, V256 = 2, V128 = 1, None = 0;

    public static int Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.IsHardwareAccelerated ? V512 :
               Vector256.IsHardwareAccelerated ? V256 :
               Vector128.IsHardwareAccelerated ? V128 : None;
    }

    public static string Name => Current switch { V512 => "Vector512", V256 => "Vector256", V128 => "Vector128", _ => "scalar" };

    /// <summary>Whether <see cref="ISimd{TV}.Fma"/> is one fused instruction on this machine.</summary>
    public static bool HasFma => X86.Fma.IsSupported || AdvSimd.IsSupported;
}

internal unsafe struct Simd512 : ISimdDouble<Vector512<float>, Vector512<double>>
{
    public static int Width => 16;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector512<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> FusedMultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sub(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Mul(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Div(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sqrt(Vector512<float> a) => Vector512.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Exp(Vector512<float> a) => Vector512.Exp(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> v) => Vector512.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Vector512<float> v) => Simd256.MaxAcross(Vector256.Max(v.GetLower(), v.GetUpper()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadBF16(ushort* p) =>
        Vector512.ShiftLeft(Vector512.WidenLower(Vector256.Load(p).ToVector512Unsafe()), 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadF16(ushort* p) => HalfBits.Widen(Vector512.WidenLower(Vector256.Load(p).ToVector512Unsafe()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadInt8(sbyte* p) =>
        Vector512.ConvertToSingle(Vector512.WidenLower(Vector256.WidenLower(Vector128.Load(p).ToVector256Unsafe()).ToVector512Unsafe()));

    public static Vector512<double> ZeroDouble => Vector512<double>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> AddSquares(Vector512<float> x, Vector512<double> acc)
    {
        var (lo, hi) = Vector512.Widen(x);
        return Vector512.FusedMultiplyAdd(hi, hi, Vector512.FusedMultiplyAdd(lo, lo, acc));
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double SumDouble(Vector512<double> acc) => Vector512.Sum(acc);
}

internal unsafe struct Simd256 : ISimdDouble<Vector256<float>, Vector256<double>>
{
    public static int Width => 8;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector256<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        SimdLevel.HasFma ? Vector256.FusedMultiplyAdd(a, b, c) : a * b + c;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> FusedMultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sub(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Mul(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Div(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sqrt(Vector256<float> a) => Vector256.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Exp(Vector256<float> a) => Vector256.Exp(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> v) => Vector256.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(Vector256<float> v) => Simd128.MaxAcross(Vector128.Max(v.GetLower(), v.GetUpper()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadBF16(ushort* p) =>
        Vector256.ShiftLeft(Vector256.WidenLower(Vector128.Load(p).ToVector256Unsafe()), 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadF16(ushort* p) => HalfBits.Widen(Vector256.WidenLower(Vector128.Load(p).ToVector256Unsafe()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadInt8(sbyte* p) =>
        Vector256.ConvertToSingle(Vector256.WidenLower(Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(long*)p).AsSByte()).ToVector256Unsafe()));

    public static Vector256<double> ZeroDouble => Vector256<double>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> AddSquares(Vector256<float> x, Vector256<double> acc)
    {
        var (lo, hi) = Vector256.Widen(x);
        return hi * hi + (lo * lo + acc);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double SumDouble(Vector256<double> acc) => Vector256.Sum(acc);
}

internal unsafe struct Simd128 : ISimdDouble<Vector128<float>, Vector128<double>>
{
    public static int Width => 4;
    public static Vector128<float> Zero => Vector128<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector128<float> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Broadcast(float x) => Vector128.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Fma(Vector128<float> a, Vector128<float> b, Vector128<float> c) =>
        SimdLevel.HasFma ? Vector128.FusedMultiplyAdd(a, b, c) : a * b + c;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> FusedMultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Sub(Vector128<float> a, Vector128<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Mul(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Div(Vector128<float> a, Vector128<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Max(Vector128<float> a, Vector128<float> b) => Vector128.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Sqrt(Vector128<float> a) => Vector128.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Exp(Vector128<float> a) => Vector128.Exp(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector128<float> v) => Vector128.Sum(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector128<float> v) =>
        MathF.Max(MathF.Max(v.GetElement(0), v.GetElement(1)), MathF.Max(v.GetElement(2), v.GetElement(3)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadBF16(ushort* p) =>
        Vector128.ShiftLeft(Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(ulong*)p).AsUInt16()), 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadF16(ushort* p) => HalfBits.Widen(Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(ulong*)p).AsUInt16()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadInt8(sbyte* p) =>
        Vector128.ConvertToSingle(Vector128.WidenLower(Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(int*)p).AsSByte())));

    public static Vector128<double> ZeroDouble => Vector128<double>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<double> AddSquares(Vector128<float> x, Vector128<double> acc)
    {
        var (lo, hi) = Vector128.Widen(x);
        return hi * hi + (lo * lo + acc);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double SumDouble(Vector128<double> acc) => Vector128.Sum(acc);
}

/// <summary>One float per "vector": the path taken with DOTNET_EnableHWIntrinsic=0. <see cref="Fma"/> multiplies then adds (two roundings).</summary>
internal unsafe struct Scalar : ISimdDouble<float, double>
{
    public static int Width => 1;
    public static float Zero => 0f;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(float* p) => *p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, float v) => *p = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Broadcast(float x) => x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Fma(float a, float b, float c) => a * b + c;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float FusedMultiplyAdd(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Add(float a, float b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sub(float a, float b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Mul(float a, float b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Div(float a, float b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Max(float a, float b) => MathF.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sqrt(float a) => MathF.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Exp(float a) => MathF.Exp(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(float v) => v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(float v) => v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float LoadBF16(ushort* p) => BitConverter.Int32BitsToSingle(*p << 16);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float LoadF16(ushort* p) => (float)*(Half*)p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float LoadInt8(sbyte* p) => *p;

    public static double ZeroDouble => 0d;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double AddSquares(float x, double acc) => acc + (double)x * x;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static double SumDouble(double acc) => acc;
}

/// <summary>
/// IEEE half → float by bits, on any vector width: |h| &lt;&lt; 13 read as a float is the value · 2^-112 (also for
/// subnormals), so multiply by 2^112; exponent 31 (infinity / NaN) becomes exponent 255; then the sign.
/// </summary>
internal static class HalfBits
{
    private const float TwoPow112 = 5.192296858534828e33f;   // 2^112, exact

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Widen(Vector512<uint> h)
    {
        var magnitude = h & Vector512.Create(0x7FFFu);
        var shifted = Vector512.ShiftLeft(magnitude, 13);
        var value = shifted.AsSingle() * Vector512.Create(TwoPow112);
        var special = Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(0x7C00u));
        var infNan = (shifted | Vector512.Create(0x7F800000u)).AsSingle();
        var sign = Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16);
        return (Vector512.ConditionalSelect(special.AsSingle(), infNan, value).AsUInt32() | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen(Vector256<uint> h)
    {
        var magnitude = h & Vector256.Create(0x7FFFu);
        var shifted = Vector256.ShiftLeft(magnitude, 13);
        var value = shifted.AsSingle() * Vector256.Create(TwoPow112);
        var special = Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(0x7C00u));
        var infNan = (shifted | Vector256.Create(0x7F800000u)).AsSingle();
        var sign = Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16);
        return (Vector256.ConditionalSelect(special.AsSingle(), infNan, value).AsUInt32() | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Widen(Vector128<uint> h)
    {
        var magnitude = h & Vector128.Create(0x7FFFu);
        var shifted = Vector128.ShiftLeft(magnitude, 13);
        var value = shifted.AsSingle() * Vector128.Create(TwoPow112);
        var special = Vector128.GreaterThanOrEqual(magnitude, Vector128.Create(0x7C00u));
        var infNan = (shifted | Vector128.Create(0x7F800000u)).AsSingle();
        var sign = Vector128.ShiftLeft(h & Vector128.Create(0x8000u), 16);
        return (Vector128.ConditionalSelect(special.AsSingle(), infNan, value).AsUInt32() | sign).AsSingle();
    }
}
