using Microsoft.Extensions.AI;
using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;
using AI = Microsoft.Extensions.AI;

namespace Qwen3Gen.Model.Tests.Chat;

/// <summary>The Microsoft.Extensions.AI IChatClient over the random snapshot: same text as ChatSession, options mapping, usage.</summary>
[Collection(ChatModelFolderCollection.Name)]
public class Qwen3ChatClientTests(ChatModelFolderFixture fx)
{
    private Qwen3ChatClient NewClient() => Qwen3ChatClient.Create(fx.Loaded, fx.Tokenizer, contextLength: 512);

    [Fact]
    public async Task SameSeed_SameTextAsChatSession()
    {
        // Non-thinking mode on both sides: QwenNonThinking sampling (temperature 0.7) from seed 11.
        using var chat = ChatSession.Create(fx.Loaded, fx.Tokenizer,
            new ChatSessionOptions { SystemPrompt = "Be kind.", EnableThinking = false, Seed = 11, MaxNewTokens = 16, ContextLength = 512 });
        var turn = chat.Send("Write a haiku");

        using IChatClient client = NewClient();
        var messages = new List<AI.ChatMessage> { new(ChatRole.System, "Be kind."), new(ChatRole.User, "Write a haiku") };
        var options = new ChatOptions { Seed = 11, MaxOutputTokens = 16, Reasoning = new ReasoningOptions { Effort = ReasoningEffort.None } };
        var response = await client.GetResponseAsync(messages, options);

        Assert.Equal(turn.Answer, response.Text);
        Assert.Equal(turn.Reply.PromptTokens, response.Usage!.InputTokenCount);
        Assert.Equal(turn.Reply.GeneratedIds.Length, response.Usage.OutputTokenCount);
        Assert.Equal(turn.Reply.Stop == StopReason.MaxTokens ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(fx.DefinitionName, response.ModelId);
    }

    [Fact]
    public async Task Streaming_GivesTheSameTextAsNonStreaming_AndReusesTheCache()
    {
        using IChatClient client = NewClient();
        var messages = new List<AI.ChatMessage> { new(ChatRole.User, "Name three colours") };
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 12 };
        var whole = await client.GetResponseAsync(messages, options);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(messages, options)) updates.Add(u);
        var streamed = updates.ToChatResponse();
        Assert.Equal(whole.Text, streamed.Text);
        Assert.True(updates.Count > 1, "streaming yields several updates");
        var usage = updates.SelectMany(u => u.Contents).OfType<UsageContent>().Single().Details;
        Assert.Equal(whole.Usage!.InputTokenCount, usage.InputTokenCount);
        Assert.True(usage.CachedInputTokenCount > 0, "the second identical request reuses the cached prompt");
        Assert.NotNull(updates[^1].FinishReason);
    }

    [Fact]
    public async Task StreamingAbandonedEarly_TheNextRequestIsUnaffected()
    {
        using IChatClient client = NewClient();
        var messages = new List<AI.ChatMessage> { new(ChatRole.User, "Tell me everything") };
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 10 };
        string expected = (await client.GetResponseAsync(messages, options)).Text;

        await foreach (var _ in client.GetStreamingResponseAsync(messages, new ChatOptions { Temperature = 0, MaxOutputTokens = 500 })) break;
        var after = await client.GetResponseAsync(messages, options).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(expected, after.Text);
    }

    [Fact]
    public void Options_MapToTheSampler()
    {
        using var client = NewClient();
        var r = client.ToRequest(new ChatOptions
        {
            Temperature = 0.3f, TopP = 0.5f, TopK = 7, PresencePenalty = 1.5f, Seed = 99, MaxOutputTokens = 33,
            StopSequences = ["\n\n"],
            AdditionalProperties = new() { [Qwen3ChatClient.MinPKey] = 0.05, [Qwen3ChatClient.RepetitionPenaltyKey] = 1.1f },
        }, thinking: true);
        Assert.Equal(new SamplingOptions { Temperature = 0.3f, TopP = 0.5f, TopK = 7, PresencePenalty = 1.5f, Seed = 99, MinP = 0.05f, RepetitionPenalty = 1.1f }, r.Sampling);
        Assert.Equal(99UL, r.Seed);
        Assert.Equal(33, r.MaxNewTokens);
        Assert.Equal(["\n\n"], r.StopStrings!);

        Assert.Equal(SamplingOptions.QwenThinking, client.ToRequest(null, thinking: true).Sampling);
        Assert.Equal(SamplingOptions.QwenNonThinking, client.ToRequest(new ChatOptions(), thinking: false).Sampling);
    }

    [Fact]
    public async Task Unsupported_Options_SaySo()
    {
        using IChatClient client = NewClient();
        var messages = new List<AI.ChatMessage> { new(ChatRole.User, "hi") };
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(messages, new ChatOptions { ResponseFormat = ChatResponseFormat.Json }));
        Assert.Contains("ResponseFormat", e.Message);
        Assert.Contains("FrequencyPenalty", (await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(messages, new ChatOptions { FrequencyPenalty = float.NaN }))).Message);
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(messages, new ChatOptions { TopP = 2f }));
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([], null));
    }

    [Fact]
    public void Messages_Convert_WithReasoningAndInstructions()
    {
        var converted = Qwen3ChatClient.Convert(
        [
            new(ChatRole.User, "q"),
            new(ChatRole.Assistant, [new TextReasoningContent("because"), new TextContent("a")]),
            new(ChatRole.User, "q2"),
        ], instructions: "Be brief.");
        Assert.Equal(["system", "user", "assistant", "user"], converted.Select(m => m.Role));
        Assert.Equal("Be brief.", converted[0].Content);
        Assert.Equal("because", converted[2].ReasoningContent);
        Assert.Equal("a", converted[2].Content);
    }

    [Fact]
    public async Task ConcurrentRequests_RunOneAtATime_AndEachMatchesItsOwnRun()
    {
        using IChatClient client = NewClient();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 8 };
        var a = new List<AI.ChatMessage> { new(ChatRole.User, "first question") };
        var b = new List<AI.ChatMessage> { new(ChatRole.User, "another, different question") };
        string expectA = (await client.GetResponseAsync(a, options)).Text, expectB = (await client.GetResponseAsync(b, options)).Text;
        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => client.GetResponseAsync(i % 2 == 0 ? a : b, options)));
        for (int i = 0; i < results.Length; i++) Assert.Equal(i % 2 == 0 ? expectA : expectB, results[i].Text);
    }
}
