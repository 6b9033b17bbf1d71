using System.ClientModel;
using Microsoft.Extensions.AI;
using OpenAI;
using Qwen3Gen.Inference;

namespace Qwen3Gen.Serving.Tests;

/// <summary>
/// Microsoft.Extensions.AI end to end: its OpenAI IChatClient against the live server, and its function-invocation
/// pipeline (FunctionInvokingChatClient) over both that client and <see cref="Qwen3ChatClient"/> in process.
/// </summary>
public class ExtensionsAiTests
{
    private static IChatClient OverHttp(TestServer s) =>
        new OpenAI.Chat.ChatClient(TestServer.ModelId, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = s.BaseUri }).AsIChatClient();

    private sealed class Weather
    {
        public readonly List<string> Cities = [];
        public AIFunction Function => AIFunctionFactory.Create((string city, string? unit) =>
        {
            lock (Cities) Cities.Add(city);
            return new { temperature = 22, unit = unit ?? "celsius" };
        }, "get_weather", "The weather in a city.");
    }

    [Fact]
    public async Task OpenAiChatClient_ChatAndStreaming_AgainstTheServer()
    {
        await using var s = await TestServer.Start(ServingModels.Random());
        using var chat = OverHttp(s);
        var options = new ChatOptions { MaxOutputTokens = 10 };
        var response = await chat.GetResponseAsync("Tell me a story.", options);
        Assert.Equal(ChatRole.Assistant, response.Messages[0].Role);
        Assert.True(response.Usage?.OutputTokenCount is > 0 and <= 10);
        var streamed = await chat.GetStreamingResponseAsync("Tell me a story.", options).ToChatResponseAsync();
        Assert.Equal(response.Text, streamed.Text);
        Assert.Equal(response.FinishReason, streamed.FinishReason);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FunctionInvocation_OverTheServer_RunsTheTool(bool streaming)
    {
        await using var s = await TestServer.Start(new ScriptedModel(ServingModels.Tokenizer, Scripts.Weather));
        var weather = new Weather();
        using var chat = new ChatClientBuilder(OverHttp(s)).UseFunctionInvocation().Build();
        var options = new ChatOptions { Tools = [weather.Function] };
        var response = streaming
            ? await chat.GetStreamingResponseAsync("What is the weather in Paris?", options).ToChatResponseAsync()
            : await chat.GetResponseAsync("What is the weather in Paris?", options);
        Assert.Equal(["Paris"], weather.Cities);
        Assert.Equal(Scripts.Answer, response.Messages[^1].Text);
        Assert.Contains(response.Messages, m => m.Contents.OfType<FunctionResultContent>().Any());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FunctionInvocation_OverQwen3ChatClient_RunsTheTool(bool streaming)
    {
        var t = ServingModels.Tokenizer;
        using var model = new ScriptedModel(t, Scripts.Weather);
        using var engine = new ChatEngine(model, t, contextLength: 1024);
        var weather = new Weather();
        using var chat = new ChatClientBuilder(new Qwen3ChatClient(engine)).UseFunctionInvocation().Build();
        var options = new ChatOptions { Tools = [weather.Function] };
        var response = streaming
            ? await chat.GetStreamingResponseAsync("What is the weather in Paris?", options).ToChatResponseAsync()
            : await chat.GetResponseAsync("What is the weather in Paris?", options);
        Assert.Equal(["Paris"], weather.Cities);
        Assert.Equal(Scripts.Answer, response.Messages[^1].Text);
        var call = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().Single();
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("celsius", call.Arguments!["unit"]!.ToString());
        // The cache holds the tool turn as the template rendered it: <tool_response> with the function's JSON result.
        string cached = t.Decode(engine.CachedIds.ToArray());
        Assert.True(cached.Contains("<tool_response>\n{\"temperature\":22,\"unit\":\"celsius\"}\n</tool_response>"), cached);
    }
}
