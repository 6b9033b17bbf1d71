using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;
using Qwen3Gen.Threading;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// The streaming generation loop on a tiny random byte-level model. A random model with std 0.02 is close to uniform over
/// the 256 bytes, so its output is full of multi-byte and invalid UTF-8: a good workout for the streaming decoder. Expected
/// tokens come from an independent loop: a full forward pass over the whole window per token (no KV cache, no TextGeneration).
/// </summary>
[Collection("Workers")]
public class TextGenerationTests
{
    private static TrainTiny NewModel(int seed = 11)
    {
        var model = TrainTiny.Create();
        TestWeights.Randomize(model, seed);
        return model;
    }

    /// <summary>TrainTiny after 80 steps on Shakespeare: its samples are plain ASCII, as a stop-string test needs.</summary>
    private static readonly Lazy<TrainTiny> Trained = new(() =>
    {
        var model = NewModel(1);
        var data = Training.TextDataset.FromBytes(TestWeights.Shakespeare(60_000));
        using var trainer = new Training.Trainer(model, data, new Training.TrainingOptions
        {
            Steps = 80, Batch = 8, Context = 32, WarmupSteps = 5, LearningRate = 1e-2, MinLearningRate = 1e-3, Seed = 3,
        });
        for (int i = 0; i < 80; i++) trainer.TrainStep();
        return model;
    });

    private static readonly int[] Prompt = ByteTokenizer.Instance.Encode("ROMEO:\n");

    private static SamplingOptions Sampling(ulong seed = 7) => new() { Temperature = 1f, Seed = seed };

    private static TextGeneration NewGeneration(IQwen3Model model, int capacity, SamplingOptions sampling, ITokenizer? tokenizer = null) =>
        new(model.CreateSession(capacity, chunk: 8), new Sampler(model.Config.Vocab, sampling), tokenizer ?? ByteTokenizer.Instance);

    private static (string Text, List<string> Pieces) Run(TextGeneration generation, ReadOnlySpan<int> prompt, GenerationOptions options)
    {
        var pieces = new List<string>();
        generation.Start(prompt, options);
        while (generation.Next()) pieces.Add(generation.Piece.ToString());
        return (string.Concat(pieces), pieces);
    }

    /// <summary>
    /// The reference: at each step run the whole current window through Forward (no cache), sample from its last row, then
    /// append the token, or when the window is full keep its last keep − 1 tokens plus the new one (nanoGPT's crop).
    /// </summary>
    private static List<int> Reference(IQwen3Model model, int[] prompt, int count, SamplingOptions sampling, int capacity, int keep)
    {
        var sampler = new Sampler(model.Config.Vocab, sampling);
        sampler.AddContext(prompt);
        var window = prompt.ToList();
        var result = new List<int>();
        int vocab = model.Config.Vocab;
        model.Reserve(1, capacity, training: false);
        for (int i = 0; i < count; i++)
        {
            model.Forward(window.ToArray(), [], 1, window.Count);
            var logits = model.Logits.Slice((window.Count - 1) * vocab, vocab).ToArray();
            int id = sampler.Sample(logits);
            result.Add(id);
            if (window.Count == capacity) window = [.. window.Skip(capacity - (keep - 1)), id];
            else window.Add(id);
        }
        return result;
    }

    [Fact]
    public void Generation_EqualsFullRecomputeSampling_AndPiecesConcatenateToTheDecode()
    {
        using var model = NewModel();
        var generation = NewGeneration(model, 64, Sampling());
        var (text, pieces) = Run(generation, Prompt, new GenerationOptions { MaxNewTokens = 40 });

        Assert.Equal(Reference(model, Prompt, 40, Sampling(), 64, 1), generation.Generated.ToArray());
        Assert.Equal(ByteTokenizer.Instance.Decode(generation.Generated), text);
        Assert.DoesNotContain(pieces, p => p.Length == 0);
        var stats = generation.Stats;
        Assert.Equal(StopReason.MaxTokens, stats.StopReason);
        Assert.Equal(40, stats.GeneratedTokens);
        Assert.Equal(Prompt.Length, stats.PromptTokens);
        Assert.Equal(Prompt.Length, stats.PrefilledTokens);
        // The last token is never fed: the cache holds the prompt and the first 39 generated tokens.
        Assert.Equal(Prompt.Length + 39, generation.Session.Position);
        Assert.Equal([.. Prompt, .. generation.Generated[..39]], generation.CachedTokens.ToArray());
    }

    [Fact]
    public void StopTokenId_EndsTheRun_AndIsNotDecoded()
    {
        using var model = NewModel();
        var free = NewGeneration(model, 64, Sampling());
        Run(free, Prompt, new GenerationOptions { MaxNewTokens = 30 });
        var all = free.Generated.ToArray();
        int stop = all[12], first = Array.IndexOf(all, stop);

        var generation = NewGeneration(model, 64, Sampling());
        var (text, _) = Run(generation, Prompt, new GenerationOptions { MaxNewTokens = 30, StopTokenIds = [stop] });

        Assert.Equal(StopReason.StopToken, generation.StopReason);
        Assert.Equal(all[..(first + 1)], generation.Generated.ToArray());        // the stop id is reported as generated ...
        Assert.Equal(ByteTokenizer.Instance.Decode(all.AsSpan(0, first)), text);  // ... but its text is not emitted
    }

    [Fact]
    public void StopString_CutsTheText_AndIsNeverEmitted()
    {
        var model = Trained.Value;
        var tokenizer = ByteTokenizer.Instance;
        // The checks below count one token per char, so take the first seed whose free run is ASCII only (the tiny
        // model, 80 steps trained, samples a stray high byte now and then; which seed does depends on the kernels' bits).
        ulong seed = 3;
        string full = "";
        for (; seed < 13; seed++)
        {
            (full, _) = Run(NewGeneration(model, 128, Sampling(seed), tokenizer), Prompt, new GenerationOptions { MaxNewTokens = 60 });
            if (full.All(c => c < 128)) break;
        }
        Assert.All(full, c => Assert.True(c < 128, $"no ASCII-only sample for seeds 3-12, last: {full}"));
        string stop = full.Substring(30, 3);
        int at = full.IndexOf(stop, StringComparison.Ordinal);

        var generation = NewGeneration(model, 128, Sampling(seed), tokenizer);
        var (text, pieces) = Run(generation, Prompt, new GenerationOptions { MaxNewTokens = 60, StopStrings = ["\u0001never", stop] });

        Assert.Equal(StopReason.StopString, generation.StopReason);
        Assert.Equal(full[..at], text);
        Assert.DoesNotContain(stop, text);
        Assert.Equal(at + stop.Length, generation.Generated.Length);   // stopped on the token that completed it
        Assert.True(pieces.Count > 1);
    }

    [Fact]
    public void StopString_ThatNeverCompletes_IsHeldBackThenReleasedAtTheEnd()
    {
        var model = Trained.Value;
        var tokenizer = ByteTokenizer.Instance;
        var free = NewGeneration(model, 128, Sampling(5), tokenizer);
        var (full, _) = Run(free, Prompt, new GenerationOptions { MaxNewTokens = 25 });
        string stop = full[^2..] + "\u0001";                            // its first two chars are the text's last two

        var generation = NewGeneration(model, 128, Sampling(5), tokenizer);
        var (text, pieces) = Run(generation, Prompt, new GenerationOptions { MaxNewTokens = 25, StopStrings = [stop] });
        Assert.Equal(StopReason.MaxTokens, generation.StopReason);
        Assert.Equal(full, text);
        Assert.Equal(full[^2..], pieces[^1][^2..]);                      // held back until the run ended
    }

    [Fact]
    public void SlidingWindow_KeepsGeneratingPastTheCapacity_AsNanoGptsCrop()
    {
        using var model = NewModel(4);
        var greedy = new SamplingOptions { Temperature = 0f };
        var generation = NewGeneration(model, 16, greedy);
        var (text, _) = Run(generation, Prompt, new GenerationOptions { MaxNewTokens = 50, SlidingWindow = true, WindowKeep = 10 });

        Assert.Equal(StopReason.MaxTokens, generation.StopReason);
        Assert.Equal(50, generation.Generated.Length);
        Assert.Equal(Reference(model, Prompt, 50, greedy, 16, 10), generation.Generated.ToArray());
        Assert.Equal(ByteTokenizer.Instance.Decode(generation.Generated), text);
        // 7 prompt + 49 fed tokens: fill to 16 (9 fed), then a slide (to 10) every 7 tokens: (49 − 9) / 7 → 6 slides (5.7 rounded up).
        Assert.Equal(6, generation.Stats.WindowSlides);
    }

    [Fact]
    public void SlidingWindow_RecomputingTheWholeWindow_MatchesNanoGptSampling()
    {
        using var model = NewModel(5);
        var generation = NewGeneration(model, 12, Sampling(9));
        Run(generation, Prompt, new GenerationOptions { MaxNewTokens = 30, SlidingWindow = true, WindowKeep = 12 });
        Assert.Equal(Reference(model, Prompt, 30, Sampling(9), 12, 12), generation.Generated.ToArray());
    }

    [Fact]
    public void WithoutSlidingWindow_AFullContextStops()
    {
        using var model = NewModel();
        var generation = NewGeneration(model, 16, Sampling());
        Run(generation, Prompt, new GenerationOptions { MaxNewTokens = 100 });
        Assert.Equal(StopReason.ContextFull, generation.StopReason);
        Assert.Equal(16 - Prompt.Length + 1, generation.Generated.Length); // the last one is sampled from position 15's logits

        var longPrompt = Enumerable.Range(0, 20).Select(i => 65 + i).ToArray();
        var e = Assert.Throws<ArgumentException>(() => generation.Start(longPrompt, new GenerationOptions()));
        Assert.Contains("20 tokens", e.Message);
        generation.Start(longPrompt, new GenerationOptions { SlidingWindow = true, MaxNewTokens = 3 });  // cropped to the last 16
        Assert.Equal(longPrompt[^16..], generation.CachedTokens.ToArray());
        Assert.Equal(16, generation.Stats.PrefilledTokens);
    }

    [Fact]
    public void ReusePrefix_PrefillsOnlyTheNewTokens_AndGeneratesTheSame()
    {
        using var model = NewModel();
        var generation = NewGeneration(model, 64, Sampling());
        Run(generation, Prompt, new GenerationOptions { MaxNewTokens = 10 });
        int[] next = [.. Prompt, .. generation.Generated, .. ByteTokenizer.Instance.Encode("\nJULIET:")];

        generation.Sampler.Reseed(21);
        generation.Start(next, new GenerationOptions { MaxNewTokens = 10 }, reusePrefix: true);
        while (generation.Next()) { }
        Assert.Equal(Prompt.Length + 9, generation.Stats.ReusedPromptTokens);   // the unfed 10th token is prefilled now
        var reused = generation.Generated.ToArray();

        var fresh = NewGeneration(model, 64, Sampling(21));
        Run(fresh, next, new GenerationOptions { MaxNewTokens = 10 });
        Assert.Equal(0, fresh.Stats.ReusedPromptTokens);
        Assert.Equal(fresh.Generated.ToArray(), reused);
    }

    [Fact]
    public void AnyTokenizer_StreamsByRedecoding_WithTheSameText()
    {
        using var model = NewModel();
        var generation = NewGeneration(model, 64, Sampling(), new Wrapped());
        var (text, _) = Run(generation, Prompt, new GenerationOptions { MaxNewTokens = 40 });
        Assert.Equal(ByteTokenizer.Instance.Decode(generation.Generated), text);
        Assert.Equal(Reference(model, Prompt, 40, Sampling(), 64, 1), generation.Generated.ToArray());
    }

    [Fact]
    public void MaxNewTokensZero_OnlyPrefills()
    {
        using var model = NewModel();
        var generation = NewGeneration(model, 64, Sampling());
        var (text, _) = Run(generation, Prompt, new GenerationOptions { MaxNewTokens = 0 });
        Assert.Equal("", text);
        Assert.Equal(0, generation.Generated.Length);
        Assert.Equal(Prompt.Length, generation.Session.Position);
    }

    [Fact]
    public void Cancellation_StopsBeforeTheNextToken()
    {
        using var model = NewModel();
        var generation = NewGeneration(model, 64, Sampling());
        using var cts = new CancellationTokenSource();
        generation.Start(Prompt, new GenerationOptions { MaxNewTokens = 50 });
        Assert.True(generation.Next(cts.Token));
        int soFar = generation.Generated.Length;
        cts.Cancel();
        while (generation.Next(cts.Token)) { }
        Assert.Equal(StopReason.Cancelled, generation.StopReason);
        Assert.Equal(soFar, generation.Generated.Length);
    }

    [Fact]
    public void BadInput_IsRejectedWithAMessage()
    {
        using var model = NewModel();
        var generation = NewGeneration(model, 16, Sampling());
        Assert.Throws<InvalidOperationException>(() => generation.Next());
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => generation.Start([], new GenerationOptions())).Message);
        Assert.Contains("StopStrings[0]", Assert.Throws<ArgumentException>(() => generation.Start(Prompt, new GenerationOptions { StopStrings = [""] })).Message);
        Assert.Contains("WindowKeep", Assert.Throws<ArgumentException>(() => generation.Start(Prompt, new GenerationOptions { WindowKeep = 17 })).Message);
        Assert.Contains("sampler", Assert.Throws<ArgumentException>(() =>
            new TextGeneration(model.CreateSession(8), new Sampler(100, Sampling()), ByteTokenizer.Instance)).Message);
    }

    [Fact]
    public void ByteDecoder_PushedOneByteAtATime_EqualsEncodingUtf8GetString()
    {
        // Bytes drawn mostly from UTF-8's structural classes (ASCII, continuation, 2/3/4-byte leads, never-valid bytes), so
        // truncated, overlong, surrogate and out-of-range sequences all occur.
        byte[] alphabet = [0x41, 0x0A, 0x80, 0x8F, 0xA0, 0xBF, 0xC2, 0xC0, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF];
        var rng = new Random(17);
        for (int trial = 0; trial < 2000; trial++)
        {
            var bytes = new byte[rng.Next(0, 12)];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = rng.Next(4) == 0 ? (byte)rng.Next(256) : alphabet[rng.Next(alphabet.Length)];
            var decoder = TokenTextDecoder.For(ByteTokenizer.Instance, skipSpecialTokens: false);
            var text = new CharBuffer();
            foreach (byte b in bytes) decoder.Push(b, text);
            decoder.Flush(text);
            Assert.Equal(System.Text.Encoding.UTF8.GetString(bytes), text.Span.ToString());
        }
    }

    [Fact]
    public void TheLoop_AllocatesNothingPerToken_WithTheByteTokenizer()
    {
        // A stand-in session that allocates nothing, so only the loop's own allocations count (sampler, decoder, stop strings).
        var generation = new TextGeneration(new FakeSession(128), new Sampler(256, Sampling()), ByteTokenizer.Instance);
        var options = new GenerationOptions { MaxNewTokens = 250, StopStrings = ["\u0001\u0002", "xyz"], SlidingWindow = true };
        generation.Start(Prompt, options);
        while (generation.Next()) { }                                     // warm up: buffers grow, fallbacks get made, once
        generation.Sampler.Reseed(99);
        generation.Start(Prompt, options);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int pieces = 0;
        while (generation.Next()) pieces++;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(pieces > 100);
        Assert.True(generation.Stats.WindowSlides > 0);
        Assert.True(allocated == 0, $"{allocated} bytes allocated over {pieces} pieces");
    }

    /// <summary>An allocation-free session: logits are a fixed function of the position and the last token.</summary>
    private sealed class FakeSession(int capacity) : IInferenceSession
    {
        private readonly float[] _logits = new float[256];
        public int Capacity => capacity;
        public int Position { get; private set; }
        public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens) => Append(tokens.Length, tokens[^1]);
        public ReadOnlySpan<float> Decode(int token) => Append(1, token);
        private float[] Append(int count, int last)
        {
            if (Position + count > Capacity) throw new InvalidOperationException("full");
            Position += count;
            for (int i = 0; i < _logits.Length; i++) _logits[i] = MathF.Sin(i * 0.37f + last * 1.3f + Position * 0.11f) * 3;
            return _logits;
        }
        public void Rewind(int position) => Position = position;
        public void Dispose() { }
    }

    /// <summary>The byte tokenizer behind another type: TextGeneration must fall back to re-decoding.</summary>
    private sealed class Wrapped : ITokenizer
    {
        public int VocabSize => 256;
        public IReadOnlyList<int> EosIds => [];
        public int[] Encode(string text) => ByteTokenizer.Instance.Encode(text);
        public string Decode(ReadOnlySpan<int> ids) => ByteTokenizer.Instance.Decode(ids);
    }

}
