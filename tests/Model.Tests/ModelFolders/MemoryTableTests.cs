using System.Globalization;
using Qwen3Gen.Definitions;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// The parameter counts of the official sizes (the generated ParameterCount) against the model cards, and the memory
/// table of docs/models.md, printed from the generated constants.
/// </summary>
public class MemoryTableTests(ITestOutputHelper output)
{
    private sealed record Size(string Name, ModelConfig Config, long Count, long VectorStart, string CardTotal, string CardNonEmbedding);

    // Model-card parameter counts ("Number of Parameters" / "(Non-Embedding)") of Qwen/Qwen3-*B, in billions.
    private static readonly Size[] Sizes =
    [
        new("Qwen3-0.6B", Qwen3_0_6B.HyperParameters, Qwen3_0_6B.ParameterCount, Qwen3_0_6B.Layout.VectorStart, "0.6", "0.44"),
        new("Qwen3-1.7B", Qwen3_1_7B.HyperParameters, Qwen3_1_7B.ParameterCount, Qwen3_1_7B.Layout.VectorStart, "1.7", "1.4"),
        new("Qwen3-4B", Qwen3_4B.HyperParameters, Qwen3_4B.ParameterCount, Qwen3_4B.Layout.VectorStart, "4.0", "3.6"),
        new("Qwen3-8B", Qwen3_8B.HyperParameters, Qwen3_8B.ParameterCount, Qwen3_8B.Layout.VectorStart, "8.2", "6.95"),
        new("Qwen3-14B", Qwen3_14B.HyperParameters, Qwen3_14B.ParameterCount, Qwen3_14B.Layout.VectorStart, "14.8", "13.2"),
        new("Qwen3-32B", Qwen3_32B.HyperParameters, Qwen3_32B.ParameterCount, Qwen3_32B.Layout.VectorStart, "32.8", "31.2"),
    ];

    [Fact]
    public void OfficialSizes_ParameterCounts_MatchModelCards()
    {
        foreach (var s in Sizes)
        {
            var c = s.Config;
            long embedding = (long)c.Vocab * c.Hidden * (c.TieEmbeddings ? 1 : 2);
            string Billions(long n, string like) =>
                (n / 1e9).ToString("F" + (like.Length - like.IndexOf('.') - 1), CultureInfo.InvariantCulture);
            Assert.Equal(s.CardTotal, Billions(s.Count, s.CardTotal));
            Assert.Equal(s.CardNonEmbedding, Billions(s.Count - embedding, s.CardNonEmbedding));
        }
    }

    [Fact]
    public void OfficialSizes_MemoryTable()
    {
        // Weights: F32 = 4 bytes per parameter; BF16 = 2 per matrix entry + 4 per norm weight (Weights.Bytes).
        // KV cache: float32 K and V per layer and token: Layers × 2 × KvHeads × HeadDim × 4 bytes, × 1024 tokens.
        output.WriteLine("| model | parameters | weights BF16 | weights F32 | KV cache per 1k tokens | BF16 + 8k-token cache | BF16 + full 40,960 context |");
        output.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var s in Sizes)
        {
            var c = s.Config;
            long bf16 = s.VectorStart * 2 + (s.Count - s.VectorStart) * 4;
            long f32 = s.Count * 4;
            long kv = (long)c.Layers * 2 * c.KvHeads * c.HeadDim * 4 * 1024;
            output.WriteLine($"| {s.Name} | {s.Count:N0} | {Gib(bf16)} | {Gib(f32)} | {kv / (1024.0 * 1024):0} MiB | {Gib(bf16 + 8 * kv)} | {Gib(bf16 + kv * c.MaxPositions / 1024)} |");
            Assert.True(bf16 < f32 && bf16 > f32 / 2);
        }
    }

    private static string Gib(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB";
}
