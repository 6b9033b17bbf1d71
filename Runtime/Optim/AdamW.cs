using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Optim;

/// <summary>
/// torch.optim.AdamW over a model's flat parameter buffer. Per element, at step t (t = 1 first):
/// <code>
///   p ← p · (1 − lr·λ)                                  decoupled decay, on the OLD p, decayed tensors only
///   m ← lerp(m, g, 1 − β1) = m + (1 − β1)·(g − m)       torch: exp_avg.lerp_(grad, 1 - beta1)
///   v ← β2·v + ((1 − β2)·g)·g                           torch: exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
///   p ← p + (−lr/(1 − β1^t))·m / (√v / √(1 − β2^t) + ε)  torch: param.addcdiv_(exp_avg, denom, value=-step_size)
/// </code>
/// As in torch's single-tensor CPU path, the bias corrections, step size and decay factor are computed in
/// double (Python floats) and enter the float32 arithmetic as float32 scalars; every float32 operation
/// rounds in torch's order (the lerp is one fused multiply-add, as torch's vectorised lerp). The update is
/// written once against ISimd; every path (Vector512/256/128, scalar) does the same IEEE operations, so results are
/// bit-identical across paths and for any thread count: threads split fixed chunks of elements, each written by one worker.
/// The moments <see cref="M"/>, <see cref="V"/> and <see cref="StepCount"/> are the whole state.
/// </summary>
public sealed unsafe class AdamW : IDisposable
{
    /// <summary>Elements per parallel work item (a chunk never spans two tensors).</summary>
    internal const int ChunkElements = 16384;

    private const int StateVersion = 1;
    private static ReadOnlySpan<byte> Magic => "QGADAMW\0"u8;

    private readonly Chunk[] _chunks;
    private readonly bool[] _decays;

    /// <param name="tensors">The parameter tensors (offset and length in the flat buffer); they must not overlap.</param>
    /// <param name="options">Hyper-parameters; null means torch's defaults.</param>
    public AdamW(IReadOnlyList<TensorSpec> tensors, AdamWOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        Options = options ?? new AdamWOptions();
        Options.Validate();
        if (tensors.Count == 0) throw new ArgumentException("AdamW needs at least one parameter tensor.", nameof(tensors));

        var order = new int[tensors.Count];
        _decays = new bool[tensors.Count];
        long chunkCount = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i] ?? throw new ArgumentException($"Tensor {i} is null.", nameof(tensors));
            if (t.Offset < 0) throw new ArgumentException($"Tensor '{t.Name}' has a negative offset ({t.Offset}).", nameof(tensors));
            if (t.Shape.Any(d => d < 0)) throw new ArgumentException($"Tensor '{t.Name}' has a negative dimension {t.ShapeText}.", nameof(tensors));
            order[i] = i;
            _decays[i] = Options.Decay(t);
            chunkCount += (t.Length + ChunkElements - 1) / ChunkElements;
            Count = Math.Max(Count, t.Offset + t.Length);
        }
        if (chunkCount > int.MaxValue) throw new ArgumentException($"Too many parameters ({Count}) for one optimizer.", nameof(tensors));

        // Sorted by offset: overlaps are then adjacent, and chunks follow memory order.
        Array.Sort(order, (a, b) => tensors[a].Offset.CompareTo(tensors[b].Offset));
        _chunks = new Chunk[chunkCount];
        int c = 0;
        for (int k = 0; k < order.Length; k++)
        {
            var t = tensors[order[k]];
            if (k > 0)
            {
                var prev = tensors[order[k - 1]];
                if (t.Length > 0 && prev.Offset + prev.Length > t.Offset)
                    throw new ArgumentException($"Tensors '{prev.Name}' [{prev.Offset}, {prev.Offset + prev.Length}) and '{t.Name}' [{t.Offset}, {t.Offset + t.Length}) overlap.", nameof(tensors));
            }
            for (long s = 0; s < t.Length; s += ChunkElements)
                _chunks[c++] = new Chunk(t.Offset + s, (int)Math.Min(ChunkElements, t.Length - s), _decays[order[k]]);
        }

        Tensors = tensors;
        LearningRate = Options.LearningRate;
        M = new NativeBuffer<float>(Count);
        V = new NativeBuffer<float>(Count);
    }

    public AdamWOptions Options { get; }

    public IReadOnlyList<TensorSpec> Tensors { get; }

    /// <summary>Elements the optimizer covers: the end of the last tensor. Parameter and gradient buffers need at least this many.</summary>
    public long Count { get; }

    /// <summary>Learning rate of the next <see cref="Step(float*, float*)"/> (a schedule sets it before each step). Starts at <see cref="AdamWOptions.LearningRate"/>.</summary>
    public double LearningRate { get; set; }

    /// <summary>Steps taken (torch's state["step"]); the next step uses t = StepCount + 1 in the bias corrections.</summary>
    public long StepCount
    {
        get;
        set => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "StepCount must not be negative.");
    }

    /// <summary>First moment (exp_avg), same layout as the parameters.</summary>
    public NativeBuffer<float> M { get; }

    /// <summary>Second moment (exp_avg_sq), same layout as the parameters.</summary>
    public NativeBuffer<float> V { get; }

    /// <summary>Whether tensor <paramref name="index"/> of <see cref="Tensors"/> gets weight decay.</summary>
    public bool Decays(int index) => _decays[index];

    /// <summary>One AdamW step: updates <paramref name="parameters"/> in place from <paramref name="gradients"/> (both ≥ <see cref="Count"/> elements).</summary>
    public void Step(float* parameters, float* gradients)
    {
        if (parameters == null) throw new ArgumentNullException(nameof(parameters));
        if (gradients == null) throw new ArgumentNullException(nameof(gradients));
        if (!(LearningRate >= 0) || double.IsInfinity(LearningRate))
            throw new InvalidOperationException($"AdamW LearningRate ({LearningRate}) must be a finite number >= 0.");

        long t = StepCount + 1;
        var job = new StepJob
        {
            C = Coefficients.For(Options, LearningRate, t),
            P = parameters, G = gradients, M = M.Pointer, V = V.Pointer,
            Chunks = _chunks,
        };
        Workers.For(_chunks.Length, job);
        StepCount = t;
    }

    public void Step(NativeBuffer<float> parameters, NativeBuffer<float> gradients)
    {
        CheckLength(parameters.Length, nameof(parameters));
        CheckLength(gradients.Length, nameof(gradients));
        Step(parameters.Pointer, gradients.Pointer);
    }

    public void Step(Span<float> parameters, ReadOnlySpan<float> gradients)
    {
        CheckLength(parameters.Length, nameof(parameters));
        CheckLength(gradients.Length, nameof(gradients));
        fixed (float* p = parameters)
        fixed (float* g = gradients)
            Step(p, g);
    }

    /// <summary>Back to a fresh optimizer: zero moments, step 0, the initial learning rate.</summary>
    public void Reset()
    {
        M.Clear();
        V.Clear();
        StepCount = 0;
        LearningRate = Options.LearningRate;
    }

    /// <summary>
    /// Writes the state: "QGADAMW\0", int32 version, int64 element count, int64 step (little-endian),
    /// then m and v as little-endian float32. The hyper-parameters are not included (the caller's checkpoint holds those).
    /// </summary>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        RequireLittleEndian();
        Span<byte> header = stackalloc byte[28];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], StateVersion);
        BinaryPrimitives.WriteInt64LittleEndian(header[12..], Count);
        BinaryPrimitives.WriteInt64LittleEndian(header[20..], StepCount);
        stream.Write(header);
        WriteFloats(stream, M);
        WriteFloats(stream, V);
    }

    /// <summary>Reads a state written by <see cref="Save"/> for the same layout. On any error the optimizer is left fresh (<see cref="Reset"/>) and the exception names the problem.</summary>
    public void Load(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        RequireLittleEndian();
        Span<byte> header = stackalloc byte[28];
        try
        {
            ReadExactly(stream, header, "header");
            if (!header[..8].SequenceEqual(Magic)) throw new InvalidDataException("Not an AdamW state: the file does not start with \"QGADAMW\\0\".");
            int version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
            if (version != StateVersion) throw new InvalidDataException($"AdamW state version {version} is not supported (expected {StateVersion}).");
            long count = BinaryPrimitives.ReadInt64LittleEndian(header[12..]);
            if (count != Count) throw new InvalidDataException($"AdamW state has {count} elements, this optimizer's parameters have {Count}.");
            long step = BinaryPrimitives.ReadInt64LittleEndian(header[20..]);
            if (step < 0) throw new InvalidDataException($"AdamW state has a negative step ({step}).");
            ReadFloats(stream, M, "m");
            ReadFloats(stream, V, "v");
            StepCount = step;
        }
        catch
        {
            Reset();
            throw;
        }
    }

    public void Dispose()
    {
        M.Dispose();
        V.Dispose();
    }

    private void CheckLength(long length, string name)
    {
        if (length < Count) throw new ArgumentException($"{name} has {length} elements; the optimizer's tensors need {Count}.", name);
    }

    private static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("AdamW state files are little-endian; big-endian machines are not supported.");
    }

    private static void WriteFloats(Stream stream, NativeBuffer<float> buffer)
    {
        const int Block = 1 << 18;
        for (long i = 0; i < buffer.Length; i += Block)
        {
            int n = (int)Math.Min(Block, buffer.Length - i);
            stream.Write(new ReadOnlySpan<byte>(buffer.Pointer + i, n * sizeof(float)));
        }
    }

    private static void ReadFloats(Stream stream, NativeBuffer<float> buffer, string what)
    {
        const int Block = 1 << 18;
        for (long i = 0; i < buffer.Length; i += Block)
        {
            int n = (int)Math.Min(Block, buffer.Length - i);
            ReadExactly(stream, new Span<byte>(buffer.Pointer + i, n * sizeof(float)), what);
        }
    }

    private static void ReadExactly(Stream stream, Span<byte> destination, string what)
    {
        try { stream.ReadExactly(destination); }
        catch (EndOfStreamException e) { throw new InvalidDataException($"AdamW state is truncated (ends inside {what}).", e); }
    }

    private readonly record struct Chunk(long Offset, int Length, bool Decay);

    /// <summary>The float32 scalars of one step, each computed in double as torch's Python code does.</summary>
    internal struct Coefficients
    {
        public float DecayFactor;   // 1 − lr·λ
        public float Weight;        // lerp weight 1 − β1
        public bool LerpSmall;      // torch's lerp: |w| < 0.5 → m + w·(g − m), else g − (1 − w)·(g − m)
        public float Beta2;         // β2
        public float OneMinusBeta2; // 1 − β2
        public float Bc2Sqrt;       // √(1 − β2^t)
        public float Epsilon;       // ε
        public float NegStepSize;   // −lr / (1 − β1^t)

        public static Coefficients For(AdamWOptions o, double lr, long t)
        {
            double bc1 = 1 - Math.Pow(o.Beta1, t);
            double bc2 = 1 - Math.Pow(o.Beta2, t);
            double w = 1 - o.Beta1;
            return new Coefficients
            {
                DecayFactor = (float)(1 - lr * o.WeightDecay),
                Weight = (float)w,
                LerpSmall = Math.Abs((float)w) < 0.5f,
                Beta2 = (float)o.Beta2,
                OneMinusBeta2 = (float)(1 - o.Beta2),
                Bc2Sqrt = (float)Math.Sqrt(bc2),
                Epsilon = (float)o.Epsilon,
                NegStepSize = (float)(-(lr / bc1)),
            };
        }
    }

    private struct StepJob : IParallelJob
    {
        public Coefficients C;
        public float* P, G, M, V;
        public Chunk[] Chunks;

        public void Execute(int start, int end)
        {
            for (int k = start; k < end; k++)
            {
                var ch = Chunks[k];
                Update(C, P + ch.Offset, G + ch.Offset, M + ch.Offset, V + ch.Offset, ch.Length, ch.Decay, 512);
            }
        }
    }

    /// <summary>
    /// The elementwise update over n elements. <paramref name="widestBits"/> caps the vector width
    /// (512, 256, 128, or 0 for scalar only) so tests can run every path on one machine.
    /// p·1 is exact, so tensors without decay use a factor of 1 and share the path.
    /// </summary>
    internal static void Update(in Coefficients c, float* p, float* g, float* m, float* v, int n, bool decay, int widestBits)
    {
        int level = Math.Min(SimdLevel.Current, widestBits >= 512 ? SimdLevel.V512 : widestBits >= 256 ? SimdLevel.V256 : widestBits >= 128 ? SimdLevel.V128 : SimdLevel.None);
        switch (level)
        {
            case SimdLevel.V512: Update<Simd512, Vector512<float>>(c, p, g, m, v, n, decay); break;
            case SimdLevel.V256: Update<Simd256, Vector256<float>>(c, p, g, m, v, n, decay); break;
            case SimdLevel.V128: Update<Simd128, Vector128<float>>(c, p, g, m, v, n, decay); break;
            default: Update<Scalar, float>(c, p, g, m, v, n, decay); break;
        }
    }

    /// <summary>
    /// The update a vector at a time, then the tail one element at a time with the same operations in the same order
    /// (the lerp is always one fused multiply-add, <see cref="ISimd{TV}.FusedMultiplyAdd"/>), so every width gives the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Update<S, TV>(in Coefficients c, float* p, float* g, float* m, float* v, int n, bool decay)
        where S : struct, ISimd<TV> where TV : unmanaged
    {
        float df = decay ? c.DecayFactor : 1f;
        float lerpW = c.LerpSmall ? c.Weight : c.Weight - 1f; // the second form: g + (w − 1)·(g − m)
        int w = S.Width, i = 0;
        if (w > 1)
        {
            TV vdf = S.Broadcast(df), vw = S.Broadcast(lerpW), vb2 = S.Broadcast(c.Beta2), vc2 = S.Broadcast(c.OneMinusBeta2);
            TV vbc = S.Broadcast(c.Bc2Sqrt), veps = S.Broadcast(c.Epsilon), vss = S.Broadcast(c.NegStepSize);
            for (; i <= n - w; i += w)
            {
                TV pp = S.Mul(S.Load(p + i), vdf);
                TV gg = S.Load(g + i);
                TV mm = S.Load(m + i);
                TV vv = S.Load(v + i);
                mm = S.FusedMultiplyAdd(vw, S.Sub(gg, mm), c.LerpSmall ? mm : gg);
                vv = S.Add(S.Mul(vv, vb2), S.Mul(S.Mul(vc2, gg), gg));
                TV denom = S.Add(S.Div(S.Sqrt(vv), vbc), veps);
                pp = S.Add(pp, S.Div(S.Mul(vss, mm), denom));
                S.Store(m + i, mm); S.Store(v + i, vv); S.Store(p + i, pp);
            }
        }
        for (; i < n; i++) // scalar tail: the same operations in the same order
        {
            float pp = p[i] * df, gg = g[i], mm = m[i], vv = v[i];
            mm = MathF.FusedMultiplyAdd(lerpW, gg - mm, c.LerpSmall ? mm : gg);
            vv = vv * c.Beta2 + c.OneMinusBeta2 * gg * gg;
            float denom = MathF.Sqrt(vv) / c.Bc2Sqrt + c.Epsilon;
            pp = pp + c.NegStepSize * mm / denom;
            m[i] = mm; v[i] = vv; p[i] = pp;
        }
    }
}
