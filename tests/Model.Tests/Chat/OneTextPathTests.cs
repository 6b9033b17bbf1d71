using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;

namespace Qwen3Gen.Model.Tests.Chat;

/// <summary>
/// Plain text and chat replies come out of the same loop and the same <see cref="TextStream"/>: a ChatEngine reply without
/// thinking separation is, token for token and character for character, what TextGeneration streams for the same prompt.
/// </summary>
[Collection(ChatModelFolderCollection.Name)]
public class OneTextPathTests(ChatModelFolderFixture fx)
{
    [Fact]
    public void ChatEngineReply_IsTextGenerationsText()
    {
        var prompt = fx.Tokenizer.Encode("The quick brown fox");
        using var engine = new ChatEngine(fx.Loaded.Model, fx.Tokenizer, stopIds: [], contextLength: 128);
        var pieces = new List<ChatChunk>();
        var reply = engine.Generate(prompt, new ChatRequest { Sampling = SamplingOptions.Greedy, MaxNewTokens = 40, StopStrings = ["zq"] },
                                    separateThinking: false, pieces.Add);

        using var session = fx.Loaded.Model.CreateSession(128);
        var generation = new TextGeneration(session, new Sampler(fx.Loaded.Config.Vocab, SamplingOptions.Greedy), fx.Tokenizer);
        var options = new GenerationOptions { MaxNewTokens = 40, StopTokenIds = [], StopStrings = ["zq"], SkipSpecialTokens = true, OnlyTokenizerIds = true };
        var (text, stats) = generation.GenerateText(prompt, options);

        Assert.Equal(generation.Generated.ToArray(), reply.GeneratedIds);
        Assert.Equal(text, reply.Answer);
        Assert.Equal(text, string.Concat(pieces.Select(p => p.Text)));
        Assert.All(pieces, p => Assert.Equal(ChatChunkKind.Answer, p.Kind));
        Assert.Equal(stats.StopReason, reply.Stop);
        Assert.Equal(fx.Tokenizer.Decode(reply.GeneratedIds, skipSpecialTokens: true), text);   // no stop string hit: the whole decode
    }

    [Fact]
    public void SeparateThinking_NeedsTheQwen3Tokenizer()
    {
        var e = Assert.Throws<ArgumentException>(() => new TextStream(Tokenization.ByteTokenizer.Instance, separateThinking: true));
        Assert.Contains("Qwen3 tokenizer", e.Message);
    }
}
