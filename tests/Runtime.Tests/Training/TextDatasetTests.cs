using Qwen3Gen.Training;

namespace Qwen3Gen.Runtime.Tests.Training;

public sealed class TextDatasetTests
{
    private static int[] Counting(int n) => Enumerable.Range(0, n).ToArray();

    [Theory]
    [InlineData(1000, 900)]
    [InlineData(1001, 900)] // int(1001 · 0.9) = int(900.9) = 900
    [InlineData(1009, 908)]
    public void Split_IsFirst90PercentAndRest_AsNanoGpt(int n, int train)
    {
        var data = new TextDataset(Counting(n));
        Assert.Equal(train, data.Train.Length);
        Assert.Equal(n - train, data.Validation.Length);
        Assert.Equal(train, data.Validation.Span[0]);
        Assert.Equal(n, data.VocabularyNeeded);
    }

    [Fact]
    public void FromBytes_IsByteLevel()
    {
        var data = TextDataset.FromBytes("ab\u00e9"u8.ToArray().Concat(new byte[20]).ToArray());
        Assert.Equal(new[] { 97, 98, 0xC3, 0xA9 }, data.Tokens.Span[..4].ToArray());
    }

    [Fact]
    public void WindowSampler_TargetsAreInputsShiftedByOne_StartsInRange()
    {
        const int n = 500, B = 4, T = 16;
        var sampler = new WindowSampler(Counting(n), B, T, seed: 1);
        var x = new int[B * T]; var y = new int[B * T];
        var starts = new HashSet<int>();
        for (int step = 0; step < 200; step++)
        {
            sampler.Next(x, y);
            for (int b = 0; b < B; b++)
            {
                int s = x[b * T];
                Assert.InRange(s, 0, n - T - 1);          // torch.randint(len(data) - block_size)
                starts.Add(s);
                for (int t = 0; t < T; t++)
                {
                    Assert.Equal(s + t, x[b * T + t]);    // a contiguous window of the text
                    Assert.Equal(s + t + 1, y[b * T + t]); // the next token
                }
            }
        }
        Assert.True(starts.Count > 300);
        Assert.True(starts.Min() < 10 && starts.Max() > n - T - 11, $"starts cover [{starts.Min()}, {starts.Max()}]"); // both ends reachable
    }

    [Fact]
    public void WindowSampler_SameSeedSameBatches_DifferentSeedsDiffer()
    {
        int[] Run(ulong seed)
        {
            var s = new WindowSampler(Counting(10_000), 3, 8, seed);
            var all = new List<int>();
            var x = new int[24]; var y = new int[24];
            for (int i = 0; i < 10; i++) { s.Next(x, y); all.AddRange(x); }
            return all.ToArray();
        }
        Assert.Equal(Run(7), Run(7));
        Assert.NotEqual(Run(7), Run(8));
    }

    [Fact]
    public void WindowSampler_RestoredState_ContinuesIdentically()
    {
        var tokens = Counting(10_000);
        var a = new WindowSampler(tokens, 2, 8, seed: 3);
        var x = new int[16]; var y = new int[16];
        for (int i = 0; i < 5; i++) a.Next(x, y);
        var saved = a.State;
        var expected = new List<int>();
        for (int i = 0; i < 5; i++) { a.Next(x, y); expected.AddRange(x); expected.AddRange(y); }

        var b = new WindowSampler(tokens, 2, 8, seed: 999) { State = saved };
        var actual = new List<int>();
        for (int i = 0; i < 5; i++) { b.Next(x, y); actual.AddRange(x); actual.AddRange(y); }
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void SequentialWindows_ScoreEveryTargetExactlyOnce()
    {
        // 23 tokens → 22 targets; T = 5: windows of 5, 5, 5, 5, 2; B = 2: 3 batches, the last with one empty row.
        var tokens = Counting(23).Select(i => i * 10).ToArray();
        var windows = new SequentialWindows(tokens, 2, 5);
        Assert.Equal((5, 3, 22L), (windows.Windows, windows.Batches, windows.TargetCount));
        var x = new int[10]; var y = new int[10];
        var scored = new List<int>();
        long real = 0;
        for (int b = 0; b < windows.Batches; b++)
        {
            real += windows.Fill(b, x, y);
            for (int i = 0; i < 10; i++)
            {
                if (y[i] == TextDataset.IgnoreIndex) { Assert.Equal(0, x[i]); continue; }
                Assert.Equal(x[i] + 10, y[i]); // target = the token after the input
                scored.Add(y[i]);
            }
        }
        Assert.Equal(22, real);
        Assert.Equal(Enumerable.Range(1, 22).Select(i => i * 10), scored);

        var full = new SequentialWindows(tokens, 2, 5, includePartialWindow: false);
        Assert.Equal((4, 2, 20L), (full.Windows, full.Batches, full.TargetCount));
    }

    [Fact]
    public void Data_BadInput_ThrowsNamingTheProblem()
    {
        Assert.Contains("context 16", Assert.Throws<ArgumentException>(() => new WindowSampler(Counting(16), 1, 16, 0)).Message);
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => new TextDataset([1, 2, -3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20])).Message);
        Assert.Contains("too few", Assert.Throws<ArgumentException>(() => new TextDataset([1, 2, 3])).Message);
        var sampler = new WindowSampler(Counting(100), 2, 4, 0);
        Assert.Contains("2 × 4", Assert.Throws<ArgumentException>(() => sampler.Next(new int[7], new int[8])).Message);
    }
}
