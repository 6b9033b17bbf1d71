using System.Diagnostics;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Profiling;

/// <summary>Which product of y = x · Wᵀ a <see cref="MatMulWorkload"/> times.</summary>
public enum MatMulOp { Forward, ForwardBF16, BackwardInput, BackwardWeight }

/// <summary>Buffers for one "rows × in × out" product, filled with small random values once (fresh pages are slow: touch once, reuse).</summary>
public sealed unsafe class MatMulWorkload : IDisposable
{
    private readonly NativeBuffer<float> _x, _w, _y, _dy, _dx, _dw;
    private readonly NativeBuffer<BF16> _wb;

    public MatMulWorkload(int rows, int inDim, int outDim, int seed = 1234)
    {
        Rows = rows; In = inDim; Out = outDim;
        var random = new Random(seed);
        _x = Fill(new NativeBuffer<float>((long)rows * inDim), random);
        _w = Fill(new NativeBuffer<float>((long)outDim * inDim), random);
        _wb = new NativeBuffer<BF16>((long)outDim * inDim);
        for (long i = 0; i < _w.Length; i++) _wb.Pointer[i] = BF16.FromSingle(_w.Pointer[i]);
        _y = new NativeBuffer<float>((long)rows * outDim); _y.Clear();
        _dy = Fill(new NativeBuffer<float>((long)rows * outDim), random);
        _dx = new NativeBuffer<float>((long)rows * inDim); _dx.Clear();
        _dw = new NativeBuffer<float>((long)outDim * inDim); _dw.Clear();
    }

    public int Rows { get; }
    public int In { get; }
    public int Out { get; }

    public void Run(MatMulOp op)
    {
        switch (op)
        {
            case MatMulOp.Forward: MatMul.Forward(_y.Pointer, _x.Pointer, _w.Pointer, Rows, In, Out); break;
            case MatMulOp.ForwardBF16: MatMul.Forward(_y.Pointer, _x.Pointer, _wb.Pointer, Rows, In, Out); break;
            case MatMulOp.BackwardInput: MatMul.BackwardInput(_dx.Pointer, _dy.Pointer, _w.Pointer, Rows, In, Out); break;
            default: MatMul.BackwardWeight(_dw.Pointer, _dy.Pointer, _x.Pointer, Rows, In, Out); break;
        }
    }

    /// <summary>Best-of-N time of one product after two warm-up calls.</summary>
    public WorkloadTiming Measure(MatMulOp op, int repetitions)
    {
        Run(op); Run(op);
        var times = new double[repetitions];
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < repetitions; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Run(op);
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        allocated = (GC.GetAllocatedBytesForCurrentThread() - allocated) / repetitions;
        return TrainingStepWorkload.Summarise(times, allocated, []);
    }

    /// <summary>Best-of-n GB/s of a plain sequential read of the F32 weights (TensorPrimitives.Sum): the bandwidth available right now.</summary>
    public double ReadBandwidth(int n)
    {
        double best = double.MaxValue;
        var span = new ReadOnlySpan<float>(_w.Pointer, checked((int)_w.Length));
        float sink = 0;
        for (int i = 0; i < n; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            sink += System.Numerics.Tensors.TensorPrimitives.Sum(span);
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        GC.KeepAlive(sink);
        return _w.Length * 4.0 / best / 1e9;
    }

    private static NativeBuffer<float> Fill(NativeBuffer<float> b, Random random)
    {
        for (long i = 0; i < b.Length; i++) b.Pointer[i] = (float)(random.NextDouble() - 0.5);
        return b;
    }

    public void Dispose()
    {
        _x.Dispose(); _w.Dispose(); _wb.Dispose(); _y.Dispose(); _dy.Dispose(); _dx.Dispose(); _dw.Dispose();
    }
}
