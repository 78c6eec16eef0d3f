//! The `events` function: the table's stream in (the `DynamoDB` event source), the outbox's
//! lifecycle events out on the team's bus, and the records to retry back to Lambda
//! (`ReportBatchItemFailures`). A failure is never an error of the invocation: that would
//! retry records already delivered along with the failed ones.

use aws_lambda_events::event::{dynamodb::Event, streams::DynamoDbEventResponse};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use sms_mfa::runtime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime::init_tracing();
    let publisher = runtime::ready(runtime::events_publisher_from_env()).await;
    let publisher = &publisher;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<DynamoDbEventResponse, Error>(runtime::deliver_stream_batch(&event.payload, publisher).await)
    }))
    .await
}
