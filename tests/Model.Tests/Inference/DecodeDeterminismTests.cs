using Qwen3Gen.Threading;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// Prefill and decode give bit-identical logits on 1, 2 and 3 threads: attention picks the direct (no kᵀ copy) or
/// transposed score path from the tile's shape only, and the cache write runs the same steps per row on any thread.
/// </summary>
[Collection("Workers")]   // tests that change Workers.Threads must not run beside each other
public class DecodeDeterminismTests
{
    [Theory]
    [InlineData("dense-long", 1)]
    [InlineData("dense-long", 3)]
    [InlineData("moe-mixed", 20)]
    public void PrefillAndDecode_AreBitIdentical_ForOneTwoThreeThreads(string caseName, int chunk)
    {
        const int length = 60, prefill = 37;
        float[] Run(int threads)
        {
            int saved = Workers.Threads;
            Workers.Threads = threads;
            try
            {
                using var model = DenseGoldenTests.Load(caseName);
                var rng = new Random(11);
                var ids = Enumerable.Range(0, length).Select(_ => rng.Next(model.Config.Vocab)).ToArray();
                using var session = model.CreateSession(capacity: length, chunk: chunk);
                var all = new List<float>(session.Prefill(ids.AsSpan(0, prefill)).ToArray());
                for (int t = prefill; t < length; t++) all.AddRange(session.Decode(ids[t]).ToArray());
                return all.ToArray();
            }
            finally { Workers.Threads = saved; }
        }
        float[] one = Run(1);
        foreach (int threads in new[] { 2, 3 })
        {
            float[] other = Run(threads);
            Assert.Equal(one.Length, other.Length);
            for (int i = 0; i < one.Length; i++)
                if (BitConverter.SingleToInt32Bits(one[i]) != BitConverter.SingleToInt32Bits(other[i]))
                    Assert.Fail($"{caseName}: logit {i} with {threads} threads {other[i]:R} != {one[i]:R} with 1 thread");
        }
    }
}
