#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI client
using System.ClientModel;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Qwen3Gen.Serving.Tests;

/// <summary>The official OpenAI .NET client against the live server on loopback: chat, streaming, tool calls, errors.</summary>
public class OpenAiClientTests
{
    private static ChatClient Client(TestServer s) =>
        new(TestServer.ModelId, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = s.BaseUri });

    [Fact]
    public async Task Chat_StreamingAndNot_GiveTheSameText_WithUsage()
    {
        await using var s = await TestServer.Start(ServingModels.Random());
        var client = Client(s);
        List<OpenAI.Chat.ChatMessage> messages = [new SystemChatMessage("Be brief."), new UserChatMessage("Say something.")];
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 12 };
        ChatCompletion whole = await client.CompleteChatAsync(messages, options);
        Assert.Equal(ChatMessageRole.Assistant, whole.Role);
        Assert.Equal(TestServer.ModelId, whole.Model);
        Assert.StartsWith("chatcmpl-", whole.Id);
        Assert.True(whole.Usage.InputTokenCount > 10);
        Assert.InRange(whole.Usage.OutputTokenCount, 1, 12);
        Assert.Equal(whole.Usage.InputTokenCount + whole.Usage.OutputTokenCount, whole.Usage.TotalTokenCount);
        Assert.True(whole.FinishReason is ChatFinishReason.Length or ChatFinishReason.Stop);
        if (whole.FinishReason == ChatFinishReason.Length) Assert.Equal(12, whole.Usage.OutputTokenCount);

        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var u in client.CompleteChatStreamingAsync(messages, new ChatCompletionOptions { MaxOutputTokenCount = 12 }))
        {
            foreach (var part in u.ContentUpdate) text.Append(part.Text);
            finish ??= u.FinishReason;
            usage ??= u.Usage;
        }
        Assert.Equal(string.Concat(whole.Content.Select(c => c.Text)), text.ToString());
        Assert.Equal(whole.FinishReason, finish);
        Assert.NotNull(usage);                                           // the client asks for stream_options.include_usage
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(whole.Usage.InputTokenCount, usage.InputTokenCount);
    }

    [Fact]
    public async Task Completions_Models_Health_Respond()
    {
        await using var s = await TestServer.Start(ServingModels.Random());
        var models = JsonDocument.Parse(await s.Http.GetStringAsync("v1/models")).RootElement;
        Assert.Equal("list", models.GetProperty("object").GetString());
        Assert.Equal(TestServer.ModelId, models.GetProperty("data")[0].GetProperty("id").GetString());
        var health = JsonDocument.Parse(await s.Http.GetStringAsync("health")).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());

        var response = await s.Http.PostAsync("v1/completions", Json(new { model = "x", prompt = "Once upon a time", max_tokens = 7, stream = false }));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.Equal(7, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());

        // The same prompt streamed gives the same text; token ids as the prompt give the same as the text.
        var ids = ServingModels.Tokenizer.Encode("Once upon a time");
        var byIds = JsonDocument.Parse(await (await s.Http.PostAsync("v1/completions", Json(new { prompt = ids, max_tokens = 7 }))).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(body.GetProperty("choices")[0].GetProperty("text").GetString(), byIds.GetProperty("choices")[0].GetProperty("text").GetString());
        string streamed = await Sse.Text(s.Http, "v1/completions", new { prompt = "Once upon a time", max_tokens = 7, stream = true }, "text");
        Assert.Equal(body.GetProperty("choices")[0].GetProperty("text").GetString(), streamed);
    }

    [Fact]
    public async Task ToolCalls_AndReasoning_ComeBackInOpenAiShape()
    {
        var t = ServingModels.Tokenizer;
        await using var s = await TestServer.Start(new ScriptedModel(t, Scripts.Weather));
        var client = Client(s);
        var tool = ChatTool.CreateFunctionTool("get_weather", "The weather in a city.",
            BinaryData.FromString("""{"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]}"""));
        var options = new ChatCompletionOptions { Tools = { tool } };
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("What is the weather in Paris?")];

        ChatCompletion call = await client.CompleteChatAsync(messages, options);
        Assert.Equal(ChatFinishReason.ToolCalls, call.FinishReason);
        var tc = Assert.Single(call.ToolCalls);
        Assert.Equal("get_weather", tc.FunctionName);
        Assert.StartsWith("call_", tc.Id);
        var args = JsonDocument.Parse(tc.FunctionArguments.ToString()).RootElement;
        Assert.Equal("Paris", args.GetProperty("city").GetString());
        Assert.Equal("celsius", args.GetProperty("unit").GetString());

        // streamed: one tool-call delta with the whole call, finish_reason tool_calls, no content
        var names = new List<string>();
        var argText = new System.Text.StringBuilder();
        var content = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var u in client.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var d in u.ToolCallUpdates)
            {
                if (d.FunctionName is not null) names.Add(d.FunctionName);
                argText.Append(d.FunctionArgumentsUpdate?.ToString());
            }
            foreach (var p in u.ContentUpdate) content.Append(p.Text);
            finish ??= u.FinishReason;
        }
        Assert.Equal(["get_weather"], names);
        Assert.Equal(args.GetRawText(), JsonDocument.Parse(argText.ToString()).RootElement.GetRawText());
        Assert.Equal("", content.ToString());
        Assert.Equal(ChatFinishReason.ToolCalls, finish);

        // The tool result goes back as a tool message, rendered through the template: the model answers.
        messages.Add(new AssistantChatMessage(call));
        messages.Add(new ToolChatMessage(tc.Id, """{"temperature": 22}"""));
        ChatCompletion answer = await client.CompleteChatAsync(messages, options);
        Assert.Equal(ChatFinishReason.Stop, answer.FinishReason);
        Assert.Equal(Scripts.Answer, answer.Content[0].Text);

        // Thinking: reasoning_content apart from the content (raw JSON: the .NET client has no field for it).
        var raw = await s.Http.PostAsync("v1/chat/completions", Json(new { messages = new[] { new { role = "user", content = "Hi" } } }));
        var message = JsonDocument.Parse(await raw.Content.ReadAsStringAsync()).RootElement.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal(Scripts.Thought, message.GetProperty("reasoning_content").GetString());
        Assert.Equal("Hello!", message.GetProperty("content").GetString());
        string reasoning = await Sse.Text(s.Http, "v1/chat/completions", new { messages = new[] { new { role = "user", content = "Hi" } }, stream = true }, "reasoning_content");
        Assert.Equal(Scripts.Thought, reasoning);
    }

    [Fact]
    public async Task Errors_AreOpenAiErrors_WithTheStatus()
    {
        await using var s = await TestServer.Start(ServingModels.Random(), new Serving.BatchEngineOptions { Sequences = 2, Context = 64, PrefillChunk = 16 });
        var client = Client(s);
        var tooLong = await Assert.ThrowsAsync<ClientResultException>(() =>
            client.CompleteChatAsync([new UserChatMessage(string.Concat(Enumerable.Repeat("word ", 100)))]));
        Assert.Equal(400, tooLong.Status);
        Assert.Contains("maximum context length is 64 tokens", tooLong.Message);
        var badTemperature = await Assert.ThrowsAsync<ClientResultException>(() =>
            client.CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { Temperature = 5f }));
        Assert.Equal(400, badTemperature.Status);
        Assert.Contains("temperature", badTemperature.Message);
    }

    internal static StringContent Json(object body) => new(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");
}

/// <summary>Reads a server-sent-events response and concatenates one delta field.</summary>
internal static class Sse
{
    public static async Task<string> Text(HttpClient http, string path, object body, string field)
    {
        using var response = await http.PostAsync(path, OpenAiClientTests.Json(body));
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var text = new System.Text.StringBuilder();
        foreach (var e in Events(await response.Content.ReadAsStringAsync()))
        {
            if (e.GetProperty("choices").GetArrayLength() == 0) continue;          // the usage chunk
            var choice = e.GetProperty("choices")[0];
            var holder = choice.TryGetProperty("delta", out var d) ? d : choice;
            if (holder.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String) text.Append(v.GetString());
        }
        return text.ToString();
    }

    /// <summary>The JSON events before data: [DONE] (asserted to be there).</summary>
    public static List<JsonElement> Events(string stream)
    {
        var lines = stream.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", lines[^1]);
        return lines[..^1].Select(l =>
        {
            Assert.StartsWith("data: ", l);
            return JsonDocument.Parse(l["data: ".Length..]).RootElement;
        }).ToList();
    }
}
