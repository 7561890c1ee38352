%% The Erlang/OTP peer of bench/remote_bench: the same request/response
%% between two nodes over Erlang distribution (TCP on 127.0.0.1), default
%% VM settings on both nodes. bench/remote_bench.sh starts both nodes.
%%
%%   serve(ReplyBytes)   on the server node: registers `echo`, which answers
%%                       {get, From, Ref, Caller, Type, Id} with a binary of
%%                       ReplyBytes bytes (the size of the node's note).
%%   bench(Server, Requests, Inflight, Runs)
%%                       on the client node: per run, Requests sequential
%%                       round trips (p50, p99) after a warm-up (sequential and
%%                       pipelined), then
%%                       5 x Requests with Inflight in flight; one line per
%%                       run and one with the medians:
%%                         erlang run|median SeqPerS P50us P99us PipePerS
-module(erlang_echo).
-export([serve/1, bench/1]).

serve([Bytes]) ->
    Body = binary:copy(<<"x">>, list_to_integer(Bytes)),
    register(echo, self()),
    echo_loop(Body).

echo_loop(Body) ->
    receive
        {get, From, Ref, _Caller, _Type, _Id} ->
            From ! {Ref, Body},
            echo_loop(Body);
        {stop, From} ->
            From ! stopping,
            erlang:halt(0)
    end.

bench([ServerName, RequestsS, InflightS, RunsS]) ->
    Server = list_to_atom(ServerName),
    Requests = list_to_integer(RequestsS),
    Inflight = list_to_integer(InflightS),
    Runs = list_to_integer(RunsS),
    Echo = find_echo(Server, 200),
    Results = [one_run(Echo, Requests, Inflight) || _ <- lists:seq(1, Runs)],
    [print("run", R) || R <- Results],
    print("median", list_to_tuple([median([element(I, R) || R <- Results])
                                   || I <- [1, 2, 3, 4]])),
    %% Stop the server, and only then this node (a halt does not wait for
    %% messages still on their way out).
    Echo ! {stop, self()},
    receive stopping -> ok after 5000 -> ok end,
    erlang:halt(0).

find_echo(_Server, 0) ->
    io:format(standard_error, "erlang_echo: no echo process on the server~n", []),
    erlang:halt(1);
find_echo(Server, Tries) ->
    case net_kernel:connect_node(Server)
         andalso rpc:call(Server, erlang, whereis, [echo]) of
        Pid when is_pid(Pid) -> Pid;
        _ -> timer:sleep(50), find_echo(Server, Tries - 1)
    end.

request(Echo, Ref) ->
    Echo ! {get, self(), Ref, {<<>>, <<"bench">>}, <<"bench.note">>, 1}.

one_run(Echo, Requests, Inflight) ->
    _ = sequential(Echo, min(Requests, 2000), []),
    pipelined(Echo, min(Requests, 2000), Inflight),
    T0 = erlang:monotonic_time(nanosecond),
    Lat = lists:sort(sequential(Echo, Requests, [])),
    Seconds = (erlang:monotonic_time(nanosecond) - T0) / 1.0e9,
    N = length(Lat),
    P50 = lists:nth(N div 2 + 1, Lat),
    P99 = lists:nth(N * 99 div 100 + 1, Lat),
    T1 = erlang:monotonic_time(nanosecond),
    pipelined(Echo, 5 * Requests, Inflight),
    PipeSeconds = (erlang:monotonic_time(nanosecond) - T1) / 1.0e9,
    {Requests / Seconds, P50, P99, 5 * Requests / PipeSeconds}.

sequential(_Echo, 0, Acc) ->
    Acc;
sequential(Echo, K, Acc) ->
    Ref = make_ref(),
    T = erlang:monotonic_time(nanosecond),
    request(Echo, Ref),
    receive {Ref, _} -> ok end,
    Us = (erlang:monotonic_time(nanosecond) - T) / 1000.0,
    sequential(Echo, K - 1, [Us | Acc]).

pipelined(Echo, Total, Inflight) ->
    First = min(Total, Inflight),
    [request(Echo, make_ref()) || _ <- lists:seq(1, First)],
    pipe_loop(Echo, Total - First, Total).

pipe_loop(_Echo, _ToSend, 0) ->
    ok;
pipe_loop(Echo, ToSend, Remaining) ->
    receive {_Ref, _Body} -> ok end,
    case ToSend > 0 of
        true -> request(Echo, make_ref()), pipe_loop(Echo, ToSend - 1, Remaining - 1);
        false -> pipe_loop(Echo, 0, Remaining - 1)
    end.

median(Xs) ->
    lists:nth(length(Xs) div 2 + 1, lists:sort(Xs)).

print(What, {Seq, P50, P99, Pipe}) ->
    io:format("erlang ~s ~w ~.1f ~.1f ~w~n", [What, round(Seq), P50, P99, round(Pipe)]).
