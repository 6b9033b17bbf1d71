using Qwen3Gen.Kernels;
using Qwen3Gen.Optim;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Runtime.Tests.Optim;

[Collection(WorkersThreadsCollection.Name)]
public sealed unsafe class AdamWTests
{
    private static readonly AdamWOptions Fixture = new() { LearningRate = 1e-3, Beta1 = 0.9, Beta2 = 0.95, Epsilon = 1e-8, WeightDecay = 0.1 };

    /// <summary>A matrix spanning several parallel chunks, an odd-sized matrix and a vector, with gaps between them.</summary>
    private static List<TensorSpec> Layout() =>
    [
        new("big.weight", [301, 177], 0),                 // 53,277 elements: 4 chunks, odd tail
        new("norm.weight", [37], 53_277 + 5),
        new("small.weight", [3, 7], 53_277 + 5 + 37 + 11),
    ];

    private static void Fill(Span<float> x, int seed, float scale)
    {
        var r = new Random(seed);
        for (int i = 0; i < x.Length; i++) x[i] = (float)((r.NextDouble() * 2 - 1) * scale);
    }

    private static void RunSteps(AdamW adamw, NativeBuffer<float> p, NativeBuffer<float> g, int from, int to)
    {
        for (int s = from; s < to; s++)
        {
            Fill(new Span<float>(g.Pointer, (int)g.Length), 100 + s, 1e-2f);
            adamw.LearningRate = 1e-3 * (1 + s) / 4;
            adamw.Step(p, g);
        }
    }

    [Fact]
    public void AdamWUpdate_EveryVectorPath_BitIdentical()
    {
        foreach (double beta1 in new[] { 0.9, 0.3 }) // 0.3: torch's other lerp form (weight ≥ 0.5)
        {
            var c = AdamW.Coefficients.For(Fixture with { Beta1 = beta1 }, 1e-3, 3);
            const int n = 16 * 7 + 8 + 4 + 3;           // exercises every width and the scalar tail
            float[]? reference = null;
            foreach (int width in new[] { 512, 256, 128, 0 })
            {
                var p = new float[n]; var g = new float[n]; var m = new float[n]; var v = new float[n];
                Fill(p, 1, 0.05f); Fill(g, 2, 1e-3f); Fill(m, 3, 1e-3f); Fill(v, 4, 1e-6f);
                for (int i = 0; i < n; i++) v[i] = Math.Abs(v[i]);
                fixed (float* pp = p, gp = g, mp = m, vp = v)
                    AdamW.Update(c, pp, gp, mp, vp, n, decay: true, width);
                var all = p.Concat(m).Concat(v).ToArray();
                if (reference is null) reference = all;
                else Assert.True(reference.AsSpan().SequenceEqual(all), $"width {width} differs from 512 (beta1 {beta1})");
            }
        }
    }

    [Fact]
    public void AdamWStep_OneAndTwoThreads_BitIdentical()
    {
        var tensors = Layout();
        int saved = Workers.Threads;
        try
        {
            float[]? first = null;
            foreach (int threads in new[] { 1, 2 })
            {
                Workers.Threads = threads;
                using var adamw = new AdamW(tensors, Fixture);
                using var p = new NativeBuffer<float>(adamw.Count);
                using var g = new NativeBuffer<float>(adamw.Count);
                Fill(new Span<float>(p.Pointer, (int)p.Length), 7, 0.05f);
                RunSteps(adamw, p, g, 0, 3);
                var result = new Span<float>(p.Pointer, (int)p.Length).ToArray()
                    .Concat(new Span<float>(adamw.M.Pointer, (int)p.Length).ToArray())
                    .Concat(new Span<float>(adamw.V.Pointer, (int)p.Length).ToArray()).ToArray();
                if (first is null) first = result;
                else Assert.True(first.AsSpan().SequenceEqual(result), "2 threads differ from 1 thread");
            }
        }
        finally { Workers.Threads = saved; }
    }

    /// <summary>Five steps against the formula of spec §10 evaluated independently in double (m = b1·m + (1−b1)·g form).</summary>
    [Fact]
    public void AdamWStep_SeveralSteps_MatchDoubleFormula()
    {
        var tensors = Layout();
        using var adamw = new AdamW(tensors, Fixture);
        using var p = new NativeBuffer<float>(adamw.Count);
        using var g = new NativeBuffer<float>(adamw.Count);
        int n = (int)adamw.Count;
        Fill(new Span<float>(p.Pointer, n), 7, 0.05f);
        var pd = new double[n]; var md = new double[n]; var vd = new double[n];
        for (int i = 0; i < n; i++) pd[i] = p.Pointer[i];
        var initial = new Span<float>(p.Pointer, n).ToArray();
        var decays = new bool[n];
        foreach (var t in tensors) for (long i = t.Offset; i < t.Offset + t.Length; i++) decays[i] = t.IsMatrix;
        var inTensor = new bool[n];
        foreach (var t in tensors) for (long i = t.Offset; i < t.Offset + t.Length; i++) inTensor[i] = true;

        for (int s = 0; s < 5; s++)
        {
            RunSteps(adamw, p, g, s, s + 1);
            double lr = 1e-3 * (1 + s) / 4, b1 = 0.9, b2 = 0.95; int t = s + 1;
            for (int i = 0; i < n; i++)
            {
                if (!inTensor[i]) continue;
                double gi = g.Pointer[i];
                if (decays[i]) pd[i] *= 1 - lr * 0.1;
                md[i] = b1 * md[i] + (1 - b1) * gi;
                vd[i] = b2 * vd[i] + (1 - b2) * gi * gi;
                pd[i] -= lr / (1 - Math.Pow(b1, t)) * md[i] / (Math.Sqrt(vd[i]) / Math.Sqrt(1 - Math.Pow(b2, t)) + 1e-8);
            }
        }
        Assert.Equal(5, adamw.StepCount);
        double maxAbs = 0;
        for (int i = 0; i < n; i++)
        {
            if (!inTensor[i]) { Assert.Equal(initial[i], p.Pointer[i]); continue; } // gaps between tensors are never touched
            maxAbs = Math.Max(maxAbs, Math.Abs(p.Pointer[i] - pd[i]));
        }
        Assert.True(maxAbs < 1e-7, $"max abs diff {maxAbs:E2}");
    }

    [Fact]
    public void AdamWStep_ZeroGradient_IsExactlyTheDecay()
    {
        // g = 0 keeps m = v = 0, so the update is 0 / (0 + eps) = 0 and only p·(1 − lr·λ) remains (hand-computable).
        var tensors = new List<TensorSpec> { new("w", [2, 3], 0), new("b", [6], 6) };
        using var adamw = new AdamW(tensors, Fixture);
        var p = new float[] { 1, -2, 0.5f, 4, 8, -16, 1, -2, 0.5f, 4, 8, -16 };
        var g = new float[12];
        adamw.Step(p, g);
        float factor = (float)(1 - 1e-3 * 0.1); // 0.9999
        for (int i = 0; i < 6; i++) Assert.Equal(new float[] { 1, -2, 0.5f, 4, 8, -16 }[i] * factor, p[i]);
        Assert.Equal(new float[] { 1, -2, 0.5f, 4, 8, -16 }, p[6..]);
    }

    [Fact]
    public void AdamWDecayPredicate_IsConfigurable()
    {
        var tensors = new List<TensorSpec> { new("w", [2, 3], 0), new("b", [6], 6) };
        using var adamw = new AdamW(tensors, Fixture with { Decay = t => t.Name == "b" });
        Assert.False(adamw.Decays(0));
        Assert.True(adamw.Decays(1));
        var p = Enumerable.Repeat(2f, 12).ToArray();
        adamw.Step(p, new float[12]);
        Assert.All(p[..6], x => Assert.Equal(2f, x));
        Assert.All(p[6..], x => Assert.Equal(2f * (float)(1 - 1e-4), x));
    }

    [Fact]
    public void AdamWSaveLoad_ResumeEqualsUninterrupted()
    {
        var tensors = Layout();
        using var full = new AdamW(tensors, Fixture);
        using var p1 = new NativeBuffer<float>(full.Count);
        using var g = new NativeBuffer<float>(full.Count);
        Fill(new Span<float>(p1.Pointer, (int)p1.Length), 9, 0.05f);
        using var p2 = new NativeBuffer<float>(full.Count);
        new Span<float>(p1.Pointer, (int)p1.Length).CopyTo(new Span<float>(p2.Pointer, (int)p2.Length));

        RunSteps(full, p1, g, 0, 6);

        var stream = new MemoryStream();
        using (var first = new AdamW(tensors, Fixture))
        {
            RunSteps(first, p2, g, 0, 2);
            first.Save(stream);
        }
        stream.Position = 0;
        using var resumed = new AdamW(tensors, Fixture);
        resumed.Load(stream);
        Assert.Equal(2, resumed.StepCount);
        RunSteps(resumed, p2, g, 2, 6);

        Assert.Equal(6, resumed.StepCount);
        Assert.True(new Span<float>(p1.Pointer, (int)p1.Length).SequenceEqual(new Span<float>(p2.Pointer, (int)p2.Length)), "resumed weights differ");
        Assert.True(new Span<float>(full.M.Pointer, (int)full.Count).SequenceEqual(new Span<float>(resumed.M.Pointer, (int)full.Count)), "resumed m differs");
        Assert.True(new Span<float>(full.V.Pointer, (int)full.Count).SequenceEqual(new Span<float>(resumed.V.Pointer, (int)full.Count)), "resumed v differs");
    }

    [Fact]
    public void AdamWLoad_BadState_ThrowsNamingTheProblem()
    {
        var tensors = Layout();
        using var adamw = new AdamW(tensors, Fixture);
        var stream = new MemoryStream();
        adamw.Save(stream);
        byte[] good = stream.ToArray();

        using var other = new AdamW([new TensorSpec("w", [4, 4], 0)], Fixture);
        var e = Assert.Throws<InvalidDataException>(() => other.Load(new MemoryStream(good)));
        Assert.Contains($"{adamw.Count} elements", e.Message);

        e = Assert.Throws<InvalidDataException>(() => adamw.Load(new MemoryStream(good[..(good.Length - 3)])));
        Assert.Contains("truncated", e.Message);

        var bad = (byte[])good.Clone(); bad[0] = (byte)'X';
        e = Assert.Throws<InvalidDataException>(() => adamw.Load(new MemoryStream(bad)));
        Assert.Contains("Not an AdamW state", e.Message);
        Assert.Equal(0, adamw.StepCount);
    }

    [Fact]
    public void AdamW_BadLayoutOrOptions_Throw()
    {
        var e = Assert.Throws<ArgumentException>(() => new AdamW([new TensorSpec("a", [4, 4], 0), new TensorSpec("b", [4], 10)], Fixture));
        Assert.Contains("'a'", e.Message);
        Assert.Contains("overlap", e.Message);
        e = Assert.Throws<ArgumentException>(() => new AdamW([new TensorSpec("a", [4], 0)], Fixture with { Beta2 = 1.0 }));
        Assert.Contains("Beta2", e.Message);
        using var adamw = new AdamW([new TensorSpec("a", [4], 0)], Fixture);
        e = Assert.Throws<ArgumentException>(() => adamw.Step(new float[3], new float[4]));
        Assert.Contains("parameters", e.Message);
    }
}
