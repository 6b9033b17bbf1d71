using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// Flash-decoding (a decode step's keys split into fixed chunks of 1024 positions, merged by log-sum-exp): decode past
/// 1024 cached positions is bit-identical on 1, 2 and 3 threads, and equal to a full recompute within the logits tolerance.
/// dense-yarn's weights with YaRN factor 32 over its 64 trained positions give 2048 usable positions.
/// </summary>
[Collection("Workers")]   // tests that change Workers.Threads must not run beside each other
public class FlashDecodingTests(ITestOutputHelper output)
{
    private const int Prompt = 2000, Steps = 6;

    private static IQwen3Model LongModel()
    {
        var model = DenseYarnUnscaled.Create();
        DenseGoldenTests.LoadWeights(model, "dense-yarn");
        model.RopeScaling = RopeScaling.Yarn(32.0, 64);
        return model;
    }

    private static int[] Ids()
    {
        var rng = new Random(5);
        return Enumerable.Range(0, Prompt + Steps).Select(_ => rng.Next(128)).ToArray();
    }

    private static float[] Decode(IQwen3Model model, int[] ids, KvCacheFormat format, int threads)
    {
        int saved = Workers.Threads;
        Workers.Threads = threads;
        try
        {
            using var session = model.CreateSession(capacity: ids.Length, chunk: 256, cacheFormat: format);
            session.Prefill(ids.AsSpan(0, Prompt));
            var all = new List<float>();
            for (int t = Prompt; t < ids.Length; t++) all.AddRange(session.Decode(ids[t]).ToArray());
            return all.ToArray();
        }
        finally { Workers.Threads = saved; }
    }

    [Theory]
    [InlineData(KvCacheFormat.F32)]
    [InlineData(KvCacheFormat.Q8_0)]
    public void LongDecode_IsBitIdentical_ForOneTwoThreeThreads(KvCacheFormat format)
    {
        using var model = LongModel();
        var ids = Ids();
        float[] one = Decode(model, ids, format, 1);
        foreach (int threads in new[] { 2, 3 })
        {
            float[] other = Decode(model, ids, format, threads);
            for (int i = 0; i < one.Length; i++)
                if (BitConverter.SingleToInt32Bits(one[i]) != BitConverter.SingleToInt32Bits(other[i]))
                    Assert.Fail($"{format}: logit {i} with {threads} threads {other[i]:R} != {one[i]:R} with 1 thread");
        }
    }

    [Fact]
    public void LongDecode_EqualsFullRecompute()
    {
        using var model = LongModel();
        var ids = Ids();
        var decoded = Decode(model, ids, KvCacheFormat.F32, 2);
        model.Forward(ids, [], 1, ids.Length);
        var full = model.Logits.ToArray();
        int vocab = model.Config.Vocab;
        for (int s = 0; s < Steps; s++)
            Compare.Close(s == 0 ? output : null, $"decode[{Prompt + s}]", full.AsSpan((Prompt + s) * vocab, vocab),
                          decoded.AsSpan(s * vocab, vocab), Tolerances.Logits);
    }
}
