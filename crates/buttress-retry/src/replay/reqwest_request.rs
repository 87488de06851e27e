//! [`BufferBody`] for `reqwest::Request`, which clones itself when its
//! body is in memory (`try_clone`).

use super::{BufferBody, Replay, ReplayMemory};

impl Replay<reqwest::Request> for BufferBody {
    type Sent = reqwest::Request;
    type Copy = reqwest::Request;

    fn once(&self, request: reqwest::Request) -> reqwest::Request {
        request
    }

    fn first(
        &self,
        request: reqwest::Request,
        memory: &ReplayMemory,
    ) -> (reqwest::Request, Option<reqwest::Request>) {
        // A body in memory is cloned by reference count, not copied: the
        // caller's bytes are kept alive, no new ones are taken, so only the
        // per-request limit applies.
        let keep = match request.body() {
            None => true,
            // A streaming body has no bytes to show and cannot be cloned.
            Some(body) => body
                .as_bytes()
                .is_some_and(|bytes| bytes.len() <= memory.body_limit()),
        };
        let copy = if keep { request.try_clone() } else { None };
        (request, copy)
    }

    fn again(&self, copy: &mut reqwest::Request) -> Option<reqwest::Request> {
        copy.try_clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Option<Vec<u8>>) -> reqwest::Request {
        let url = reqwest::Url::parse("http://127.0.0.1:1/orders").unwrap();
        let mut req = reqwest::Request::new(http::Method::PUT, url);
        *req.body_mut() = body.map(reqwest::Body::from);
        req
    }

    #[test]
    fn small_bodies_are_kept_large_ones_are_not() {
        let (_, copy) = BufferBody.first(request(None), &ReplayMemory::new(16, 16));
        assert!(copy.is_some());
        let (_, copy) = BufferBody.first(request(Some(vec![1; 16])), &ReplayMemory::new(16, 16));
        let mut copy = copy.expect("16 bytes fit a 16-byte limit");
        let again = Replay::<reqwest::Request>::again(&BufferBody, &mut copy).unwrap();
        assert_eq!(
            again.body().and_then(reqwest::Body::as_bytes),
            Some(&[1u8; 16][..])
        );
        let (_, copy) = BufferBody.first(request(Some(vec![1; 17])), &ReplayMemory::new(16, 16));
        assert!(copy.is_none());
    }
}
